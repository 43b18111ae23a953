#!/bin/sh
# On the GPU machine: the static report's verdict for sm_90 against what the GPU does.
#  A. files: each nvcc-made library (known -gencode lists) scanned by cubuild-compat-scan, then its
#     kernel launched on the GPU (launch).
#  B. images: cubuild builds images and runs the GPU verifier in each (--verify require); the report
#     holds the verifier's result and the static section side by side.
#  C. sizes: the report over the machine's CUDA toolkit and torch environment (bytes read vs size).
# usage: sh run.sh CARRY_DIR OUT_DIR
set -u
c=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
export LD_LIBRARY_PATH="$c/lib" CUBUILD_VERIFIER="$c/cubuild-verify.glibc231"
store=/tmp/cubuild-compat-store
rm -rf "$store" /tmp/cubuild-cx && mkdir -p /tmp/cubuild-cx
cb() { "$c/cubuild" --root "$store" "$@"; }
say() { printf '\n$ %s\n' "$*"; }
sm90() { jq -r '.gpus[] | select(.arch == "sm_90") | "\(.verdict) \(.reason // "")"' "$1"; }

echo "== machine"
nvidia-smi --query-gpu=name,driver_version,compute_cap --format=csv,noheader; uname -r; ldd --version | head -1

echo "== A. nvcc-made libraries: static verdict for sm_90, then the kernel launched on this GPU"
for lib in "$c"/cu/*.so; do
        n=$(basename "$lib")
        mkdir -p "/tmp/cubuild-cx/files/$n"
        cp "$lib" "/tmp/cubuild-cx/files/$n/"
        "$c/cubuild-compat-scan" --json "/tmp/cubuild-cx/files/$n" >"/tmp/cubuild-cx/$n.json"
        printf '%s: sass=%s ptx=%s | static sm_90: %s | GPU: %s\n' "$n" \
                "$(jq -r '.cuda_files[0].sass | join(",")' "/tmp/cubuild-cx/$n.json")" \
                "$(jq -r '[.cuda_files[0].ptx[] | "\(.arch)@\(.version)"] | join(",")' "/tmp/cubuild-cx/$n.json")" \
                "$(sm90 "/tmp/cubuild-cx/$n.json")" "$("$c/launch" "$lib" | sed 's/^[^:]*: //')"
done

echo "== B. images built by cubuild: the GPU verifier's result beside the static sm_90 verdict"
xz -dc "$c/bullseye-minbase.tar.xz" >/tmp/cubuild-cx/bullseye.tar
cb import /tmp/cubuild-cx/bullseye.tar bullseye:minbase >/dev/null
cat >"$c/ctx-pass/Dockerfile" <<'DF'
FROM bullseye:minbase
COPY libcudart.so.11.0 /usr/local/cuda-11.8/targets/x86_64-linux/lib/
RUN ln -s cuda-11.8 /usr/local/cuda && ln -s libcudart.so.11.0 /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so
ENV CUDA_VERSION=11.8.0 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    LD_LIBRARY_PATH=/usr/local/cuda/targets/x86_64-linux/lib:/usr/local/nvidia/lib:/usr/local/nvidia/lib64
DF
mkdir -p /tmp/cubuild-cx/ctx-cublas /tmp/cubuild-cx/ctx-sm80
cp -P /usr/local/cuda/lib64/libcudart.so* /usr/local/cuda/lib64/libcublas.so* /usr/local/cuda/lib64/libcublasLt.so* \
        /tmp/cubuild-cx/ctx-cublas/ 2>/dev/null
printf 'FROM cuda-lite:11.8\nRUN rm -f /usr/local/cuda/targets/x86_64-linux/lib/libcudart.so*\nCOPY . /usr/local/cuda/targets/x86_64-linux/lib/\nENV CUDA_VERSION=13.0.0\n' \
        >/tmp/cubuild-cx/ctx-cublas/Dockerfile
cp "$c/cu/libsass80_sass120_z.so" /tmp/cubuild-cx/ctx-sm80/
printf 'FROM cuda-lite:11.8\nCOPY libsass80_sass120_z.so /opt/app/lib/\n' >/tmp/cubuild-cx/ctx-sm80/Dockerfile
for img in pass:cuda-lite:11.8:$c/ctx-pass cublas:cuda-cublas:13:/tmp/cubuild-cx/ctx-cublas sm80:app-sm80:1:/tmp/cubuild-cx/ctx-sm80; do
        key=${img%%:*}; rest=${img#*:}; tag=${rest%:*}; ctx=${rest##*:}
        say "cubuild build --verify require --compression zstd --verify-report compat-$key.json -t $tag"
        start=$(date +%s)
        cb build --verify require --compression zstd --verify-report "$out/compat-$key.json" -t "$tag" "$ctx" \
                >/tmp/cubuild-cx/build.log 2>&1
        rc=$?
        grep -E '^(compat|verify|  )|built|cubuild:' /tmp/cubuild-cx/build.log
        echo "exit status: $rc; $(($(date +%s) - start)) s"
        jq -r '"verifier: \(.result); checks: \([.checks[] | "\(.name)=\(.result)"] | join(" "))"' "$out/compat-$key.json"
        jq -r '.static | "static sm_90: " + (.gpus[] | select(.arch == "sm_90") | "\(.verdict) \(.reason // "")")' "$out/compat-$key.json"
done
say "cubuild build --require-arch sm_90 (the sm_80/sm_120 library): exit status 3 expected"
cb build --verify require --require-arch sm_90 -t app-sm80:2 /tmp/cubuild-cx/ctx-sm80 >/tmp/cubuild-cx/build.log 2>&1
rc=$?
grep -E 'cubuild:|verify:' /tmp/cubuild-cx/build.log
echo "exit status: $rc"

echo "== C. sizes: bytes read against bytes scanned"
for d in /usr/local/cuda/lib64 /opt/torch/.venv; do
        [ -d "$d" ] || continue
        say "cubuild-compat-scan $d"
        "$c/cubuild-compat-scan" "$d"
        "$c/cubuild-compat-scan" --json "$d" >"/tmp/cubuild-cx/scan.json"
        jq -c '.scan' /tmp/cubuild-cx/scan.json
done
[ -d /opt/torch/.venv ] && "$c/cubuild-compat-scan" --json /opt/torch/.venv >"$out/compat-torch-venv.json"
exit 0
