#!/bin/sh
# Runs the verifier in a rootfs with the GPU injected per a plan, the way the builder's sandbox does
# it, for scripts and tests: in a private mount namespace (unshare -m), bind the verifier at
# /.cubuild/verify, mount /proc, /sys and a fresh /dev tmpfs (null, zero, full, random, urandom, tty),
# apply the plan (tmpfs, then each device node and, read-only, each driver library and program), and
# chroot ROOT env -i NAME=VALUE... /.cubuild/verify --report /.cubuild/report.json.
# The mounts vanish with the namespace; the rootfs keeps only the empty mount points and
# /.cubuild/report.json.
#
# usage: gpu-inject.sh PLAN ROOT VERIFIER [NAME=VALUE...]
#   PLAN: the output of cubuild-gpu-plan --lines ("KIND HOST CONTAINER" per line); /dev/null to inject
#   nothing. Exit status: the verifier's.
set -eu
[ $# -ge 3 ] || { echo "usage: gpu-inject.sh PLAN ROOT VERIFIER [NAME=VALUE...]" >&2; exit 2; }
plan=$1 root=$2 verifier=$3
shift 3
mkdir -p "$root/.cubuild" "$root/dev" "$root/proc" "$root/sys"
[ -e "$root/.cubuild/verify" ] || : > "$root/.cubuild/verify"
exec unshare -m --propagation private sh -eu -c '
        R=$1 verifier=$2 plan=$3
        shift 3
        mount --bind "$verifier" "$R/.cubuild/verify"
        mount -t proc proc "$R/proc"
        mount --rbind /sys "$R/sys"
        mount -t tmpfs -o mode=755 tmpfs "$R/dev"
        for d in null zero full random urandom tty; do
                : > "$R/dev/$d"
                mount --bind "/dev/$d" "$R/dev/$d"
        done
        while read -r kind host cont; do
                case $kind in
                tmpfs) mkdir -p "$R$cont"; mount -t tmpfs -o mode=755 tmpfs "$R$cont" ;;
                device) : > "$R$cont"; mount --bind "$host" "$R$cont" ;;
                library|program)
                        mkdir -p "$(dirname "$R$cont")"
                        : > "$R$cont"
                        mount --bind "$host" "$R$cont"
                        mount -o remount,bind,ro "$R$cont" ;;
                *) echo "gpu-inject: unknown mount kind $kind" >&2; exit 1 ;;
                esac
        done < "$plan"
        exec chroot "$R" /usr/bin/env -i HOME=/root "$@" /.cubuild/verify --report /.cubuild/report.json
' sh "$root" "$verifier" "$plan" "$@"
