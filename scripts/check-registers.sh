#!/usr/bin/env bash
# Register check of the batch kernels: builds nidus-kernel in release and
# disassembles every tier's batch kernel as compiled for x86-64 (AVX-512,
# AVX2 and portable), and the int8 scan's and quantizer's kernels of each
# tier, finds their hot loops (the innermost loops that contain
# the tile's multiply-adds) and fails if any instruction in them reads or
# writes the stack (through %rsp, or %rbp where it is the frame pointer): a
# spilled accumulator or pointer
# costs a load and a store per multiply-add. Codegen does not depend on the
# CPU, so this runs on any x86-64 machine with objdump (binutils).
#
# Usage: scripts/check-registers.sh [-v] [file.rlib|binary]
#   -v     print every hot loop's instructions, not just the verdict.
#   file   check this build instead (default: build the kernel and check
#          target/release/libnidus_kernel.rlib, whose objects are what a
#          release binary links).
set -euo pipefail

verbose=0
if [[ "${1:-}" == "-v" ]]; then
    verbose=1
    shift
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
file="${1:-}"
if [[ "$(uname -m)" != "x86_64" && -z "$file" ]]; then
    echo "check-registers: the disassembly check covers the x86-64 tiers; build on x86-64" >&2
    exit 2
fi
if [[ -z "$file" ]]; then
    (cd "$root" && cargo build --release -p nidus-kernel --quiet)
    file="${CARGO_TARGET_DIR:-$root/target}/release/libnidus_kernel.rlib"
fi

# tier; symbols that hold the batch kernel's loops (whichever of them the
# compiler kept out of line); the tile's arithmetic instructions
tiers=(
    "avx512;simd::avx512::(score_rows_batch_imp|panel_tiles|accumulate)$;vfmadd[0-9]+ps.*%zmm"
    "avx2;simd::avx2::(score_rows_batch_imp|panel_tiles|tile_batch)$;vfmadd[0-9]+ps.*%ymm"
    "portable;simd::portable::(score_rows_batch|tile2x2)$;mulps"
    # The int8 scan (issue 12): the integer dot products of one query and
    # of a batch against the codes, per tier.
    "int8-avx512;int8::simd::avx512::(dot|dot_rows_unchecked|dot_rows_batch_unchecked|tile|tile_rq)(::\\{\\{closure\\}\\})?$;vpdpbusd"
    "int8-avx2;int8::simd::avx2::(dot|dot_rows_unchecked|dot_rows_batch_unchecked|tile)(::\\{\\{closure\\}\\})?$;vpmaddubsw"
    "int8-portable;int8::simd::portable::(dot|dot_rows|dot_rows_batch)$;pmaddwd"
    # Quantization while loading (the same source compiled per tier).
    "quantize-avx512;int8::quantize_tiers::x86::avx512_(f32|le)_rows_tf$;vmul(ps|pd).*%zmm"
    "quantize-avx2;int8::quantize_tiers::x86::avx2_(f32|le)_rows_tf$;vmul(ps|pd).*%ymm"
)

dis="$(mktemp)"
trap 'rm -f "$dis"' EXIT
# -C demangles; legacy Rust symbols end in ::h<hash>, which is stripped below.
objdump -d --no-show-raw-insn -C "$file" 2>/dev/null >"$dis"

status=0
for entry in "${tiers[@]}"; do
    IFS=';' read -r tier symbols arith <<<"$entry"
    # Split the disassembly into functions, keep the tier's batch symbols,
    # find loops (a jump to an earlier address of the same function), keep
    # the innermost ones that do the tile's arithmetic, and report stack
    # operands inside them.
    report="$(awk -v want="$symbols" -v arith="$arith" -v verbose="$verbose" '
        # Portable awk (mawk has no strtonum).
        function hex(s,   i, v) {
            v = 0
            for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
            return v
        }
        # Hot loops: a backward jump closes a loop over [target, jump]. The
        # tile loop is one that holds the arithmetic and is self-contained:
        # no other loop inside it and no jump out of it before its end (an
        # outer loop whose inner loop was laid out elsewhere jumps out).
        function flush(   i, k, inner, hot, bad, body, t) {
            if (name == "") return
            for (i = 0; i < nl; i++) {
                inner = 1
                for (k = 0; k < n; k++) {
                    if (addr[k] < ls[i] || addr[k] >= le[i]) continue
                    t = jt[k]
                    if (t >= 0 && (t <= addr[k] || t < ls[i] || t > le[i])) inner = 0
                }
                if (!inner) continue
                hot = 0; bad = 0; body = ""
                for (k = 0; k < n; k++) {
                    if (addr[k] < ls[i] || addr[k] > le[i]) continue
                    if (text[k] ~ arith) hot++
                    if (text[k] ~ /\(%rsp[,)]/ || (fp && text[k] ~ /\(%rbp[,)]/)) { bad++; body = body "  STACK> " text[k] "\n" }
                    else if (verbose) body = body "        " text[k] "\n"
                }
                if (!hot) continue
                loops++
                printf "%s loop %x-%x in %s: %d multiply-adds, %d stack operands\n", (bad ? "FAIL" : "ok  "), ls[i], le[i], name, hot, bad
                if (bad || verbose) printf "%s", body
                if (bad) fails++
            }
        }
        /^[0-9a-f]+ <.*>:$/ {
            flush()
            name = $0; sub(/^[0-9a-f]+ </, "", name); sub(/>:$/, "", name); sub(/::h[0-9a-f]+$/, "", name)
            if (name !~ want) name = ""
            n = 0; nl = 0; fp = 0
            next
        }
        name != "" && /^ *[0-9a-f]+:\t/ {
            line = $0; sub(/^ */, "", line)
            a = hex(substr(line, 1, index(line, ":") - 1))
            ins = substr(line, index(line, ":") + 2)
            addr[n] = a; text[n] = ins; jt[n] = -1
            # %rbp points into the stack only if the function made it its
            # frame pointer; otherwise it is one more general register.
            if (ins ~ /^mov +%rsp,%rbp$/) fp = 1
            if (ins ~ /^j[a-z]+ +[0-9a-f]+ </) {
                split(ins, f, /[ \t]+/)
                t = hex(f[2])
                jt[n] = t
                if (t <= a) { ls[nl] = t; le[nl] = a; nl++ }
            }
            n++
        }
        END { flush(); printf "#loops %d #fails %d\n", loops, fails }
    ' "$dis")"
    loops="$(sed -n 's/^#loops \([0-9]*\) #fails \([0-9]*\)$/\1/p' <<<"$report")"
    fails="$(sed -n 's/^#loops \([0-9]*\) #fails \([0-9]*\)$/\2/p' <<<"$report")"
    grep -v '^#loops' <<<"$report" | sed "s/^/[$tier] /" || true
    if [[ "$loops" == "0" ]]; then
        echo "[$tier] FAIL: no hot loop found in symbols matching $symbols (renamed or inlined elsewhere?)"
        status=1
    elif [[ "$fails" != "0" ]]; then
        echo "[$tier] FAIL: $fails hot loop(s) touch the stack"
        status=1
    else
        echo "[$tier] ok: $loops hot loop(s), none touches the stack"
    fi
done
exit $status
