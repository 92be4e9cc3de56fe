#!/bin/sh
# man/ini2man.sh config.example.ini > cloudai.ini.5 — the cloudai.ini(5) page
# is generated from config.example.ini, so it documents exactly the keys,
# defaults and comments of the example (one source, never out of date).
# The opening comment block becomes DESCRIPTION, each [section] a
# subsection, each key a tagged paragraph with the comments above it.
set -eu
in=${1:?usage: ini2man.sh config.example.ini}
cat <<'HEAD'
.TH CLOUDAI.INI 5 2026-12-01 CloudAI "File Formats"
.SH NAME
cloudai.ini \- configuration of the CloudAI master and worker
.SH SYNOPSIS
.I /etc/cloudai/cloudai.ini
(read with
.BR "\-config FILE" ),
and
.I section.key=value
on the command line of
.BR cloudai-master (8)
and
.BR cloudai-worker (8).
.SH DESCRIPTION
HEAD
awk '
function esc(s) { gsub(/\\/, "\\e", s); if (s ~ /^[.\047]/) s = "\\&" s; return s }
function flush_text() { if (n) { for (i = 1; i <= n; i++) print (buf[i] == ".br" ? ".br" : esc(buf[i])); n = 0 } }
/^#/ { t = $0; sub(/^# ?/, "", t); if (t == "") { if (!sec) { flush_text(); print ".PP" } next }
       if (t ~ /^  /) { buf[++n] = ".br"; sub(/^ +/, "", t) } buf[++n] = t; next }
/^[ \t]*$/ { if (!sec) { flush_text(); print ".PP" } next }
/^\[/ { if (!sec) flush_text(); sec = $0; print ".SS " esc(sec); if (n) { flush_text(); print ".PP" } next }
{ print ".TP"; print "\\fB" esc($0) "\\fR"; flush_text() }
END { flush_text() }
' "$in"
cat <<'TAIL'
.SH FILES
.TP
.I config.example.ini
in the source tree, installed as
.IR PREFIX/share/cloudai/cloudai.ini.example :
every key at its default.
.SH SEE ALSO
.BR cloudai (1),
.BR cloudai-master (8),
.BR cloudai-worker (8)
TAIL
