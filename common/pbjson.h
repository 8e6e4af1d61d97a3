/* Generic protobuf-c to JSON conversion through message descriptors, so that
 * `billctl --json` can print any reply without per-type code. Field names are
 * the proto names; int64 values stay numbers; bytes become base64-free hex
 * strings; enums become their names; unset oneof members are left out. */
#ifndef BW_PBJSON_H
#define BW_PBJSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

/* A new JSON object for msg (caller owns; json_object_put). */
json_object *bw_pb_to_json(const ProtobufCMessage *msg);

#endif
