#!/usr/bin/env bash
# Builds the runtime base image of both services here, the way distroless builds its cc image:
# the files of a few Debian 12 packages, no shell, no package manager, and a nonroot user 65532.
# The release workflow uses the real gcr.io/distroless/cc-debian12; this is its local stand-in
# for machines that cannot pull it (scripts/images.sh, docs/deployment.md "Images").
#
#   libc6, libgcc-s1   the only libraries the binaries link (TLS is rustls, no OpenSSL); the
#                      copyright notices of each package (gcc-12-base: libgcc-s1's)
#   ca-certificates    only the bundle, /etc/ssl/certs/ca-certificates.crt, made from its certificates
#   tzdata, netbase    /usr/share/zoneinfo; /etc/services, /etc/protocols
#   base-files         /etc/os-release, /etc/debian_version
#   passwd, group      root, nonroot (65532), nobody; nsswitch.conf (files, then dns)
#   status.d           /var/lib/dpkg/status.d/<package>: each package's control fields, which image
#                      scanners read (the files of dpkg itself are not there)
#
# Packages come from the machine's Debian 12 archive (apt-get download), at the archive's
# current versions (security updates included); the versions are in status.d and in the image
# label org.opencontainers.image.base.packages. Files get a fixed time, owner root (home/nonroot:
# 65532), sorted order: the same packages give the same layer.
#
# Usage: scripts/image-base.sh IMAGE_TAG      (idempotent: a tag whose label matches the packages'
#                                              digest is kept as it is)
# Environment: RUN_DIR (work files under $RUN_DIR/images/base; default <repo>/.run), DOCKER (the
# client, default docker)
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
RUN_DIR=${RUN_DIR:-$REPO_ROOT/.run}
TAG=${1:?usage: image-base.sh IMAGE_TAG}
DOCKER=${DOCKER:-docker}
WORK=$RUN_DIR/images/base
# gcc-12-base holds nothing but libgcc-s1's copyright notice.
PACKAGES=(base-files ca-certificates gcc-12-base libc6 libgcc-s1 netbase tzdata)
# 2023-06-10, the Debian 12.0 release: every file of the layer carries this time.
EPOCH=1686355200

say() { printf '[image-base] %s\n' "$*"; }

case $(dpkg --print-architecture) in
    amd64) multiarch=x86_64-linux-gnu ;;
    arm64) multiarch=aarch64-linux-gnu ;;
    *) echo "image-base: unsupported architecture $(dpkg --print-architecture)" >&2; exit 1 ;;
esac
grep -q '^VERSION_ID="12"' /etc/os-release ||
    { echo "image-base: needs a Debian 12 (bookworm) package archive" >&2; exit 1; }

rm -rf "$WORK/debs"
mkdir -p "$WORK/debs"
(cd "$WORK/debs" && apt-get download -q "${PACKAGES[@]}" >/dev/null 2>&1) || {
    apt-get update -q >/dev/null
    (cd "$WORK/debs" && apt-get download -q "${PACKAGES[@]}" >/dev/null)
}
digest=$(cat "$WORK"/debs/*.deb | sha256sum | cut -c1-64)
if [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "org.opencontainers.image.base.digest"}}' "$TAG" 2>/dev/null)" = "$digest" ]; then
    say "$TAG is up to date ($(cd "$WORK/debs" && echo *.deb))"
    exit 0
fi

root=$WORK/rootfs
rm -rf "$root"
mkdir -p "$root"
versions=()
for deb in "$WORK"/debs/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    versions+=("$pkg=$(dpkg-deb -f "$deb" Version)")
    dpkg-deb -x "$deb" "$root"
    mkdir -p "$root/var/lib/dpkg/status.d"
    dpkg-deb -f "$deb" Package Version Architecture Source Maintainer Installed-Size Section \
        Priority Multi-Arch Homepage Description >"$root/var/lib/dpkg/status.d/$pkg"
done

# The CA bundle update-ca-certificates would write: every certificate, in name order.
mkdir -p "$root/etc/ssl/certs"
for crt in "$root"/usr/share/ca-certificates/mozilla/*.crt; do
    cat "$crt"
    # update-ca-certificates ends every certificate with a newline.
    [ -z "$(tail -c 1 "$crt")" ] || echo
done >"$root/etc/ssl/certs/ca-certificates.crt"

# No programs (update-ca-certificates, the motd script), no documentation but the copyright
# notices, nothing only a package manager or a login shell reads.
for path in usr/sbin usr/bin sbin bin etc/update-motd.d usr/share/man usr/share/lintian \
    usr/share/base-files usr/share/ca-certificates etc/ca-certificates etc/dpkg etc/profile.d \
    usr/share/common-licenses; do
    rm -rf "${root:?}/$path"
done
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -exec rm -rf {} +
find "$root/usr/share/doc" -mindepth 1 -maxdepth 1 -type d -empty -delete

cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
mkdir -p "$root/tmp" "$root/root" "$root/home/nonroot"
chown -R 0:0 "$root"
chmod 1777 "$root/tmp"
chmod 0700 "$root/root" "$root/home/nonroot"
chown 65532:65532 "$root/home/nonroot"
[ -e "$root/lib64/ld-linux-x86-64.so.2" ] || [ -e "$root/lib/ld-linux-aarch64.so.1" ] ||
    { echo "image-base: no dynamic loader in the root file system" >&2; exit 1; }
[ -d "$root/lib/$multiarch" ] || { echo "image-base: no lib/$multiarch" >&2; exit 1; }

tar --sort=name --mtime="@$EPOCH" --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$root" -cf "$WORK/rootfs.tar" .
"$DOCKER" import \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL org.opencontainers.image.base.digest=$digest" \
    --change "LABEL org.opencontainers.image.base.packages=\"${versions[*]}\"" \
    --change 'LABEL org.opencontainers.image.description="Debian 12 libc6, libgcc-s1, CA bundle, tzdata, netbase; no shell, no package manager"' \
    "$WORK/rootfs.tar" "$TAG" >/dev/null
rm -rf "$root"
say "$TAG: ${versions[*]}, $(du -k "$WORK/rootfs.tar" | cut -f1) KiB"
