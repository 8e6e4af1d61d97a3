# The invoice benchmarks' baseline, sourced by invoicing_bench.sh and
# pipeline_bench.sh: the invoice and line rows a run wrote, COPYed again
# into plain tables of the same columns (no indexes, no constraints), once
# as text and once in the binary format the workers use. Prints the faster
# of the two in seconds. $1: a connection string for the superuser; $2: a
# directory for the copies.
invoice_copy_seconds() {
  _url=$1 _dir=$2 _best=
  for _fmt in text binary; do
    _opt=; [ $_fmt = binary ] && _opt="(FORMAT binary)"
    psql "$_url" -X -q -c "SET client_min_messages = warning" \
      -c "DROP TABLE IF EXISTS public.copy_inv, public.copy_lines" \
      -c "CREATE TABLE public.copy_inv (LIKE invoicing.invoices)" \
      -c "CREATE TABLE public.copy_lines (LIKE invoicing.invoice_lines)" \
      -c "\\copy invoicing.invoices TO '$_dir/inv.copy' $_opt" \
      -c "\\copy invoicing.invoice_lines TO '$_dir/lines.copy' $_opt"
    _c0=$(date +%s.%N)
    psql "$_url" -X -q -c "\\copy public.copy_inv FROM '$_dir/inv.copy' $_opt" \
      -c "\\copy public.copy_lines FROM '$_dir/lines.copy' $_opt"
    _c1=$(date +%s.%N)
    _s=$(echo "$_c1 - $_c0" | bc -l)
    if [ -z "$_best" ] || [ "$(echo "$_s < $_best" | bc -l)" = 1 ]; then _best=$_s; fi
    rm -f "$_dir/inv.copy" "$_dir/lines.copy"
  done
  psql "$_url" -X -q -c "DROP TABLE public.copy_inv, public.copy_lines"
  echo "$_best"
}

