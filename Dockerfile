#
# One Dockerfile for both services and for both ways of getting their binaries:
#   docker build --build-arg SERVICE=user-service -t user-service .
#   docker build --build-arg SERVICE=mail-service -t mail-service .
#
# The release workflow (.github/workflows/release.yml) builds the binary in the `builder` stage
# and puts it on gcr.io/distroless/cc-debian12. scripts/images.sh builds the same binary on the
# host with the same command (cargo auditable build --release --locked -p SERVICE), passes
# BINARY_FROM=prebuilt with a context holding prebuilt/SERVICE, and RUNTIME_IMAGE=its own
# distroless-style base (scripts/image-base.sh); the runtime stages below are the same for both.
# scripts/check_image_args.py keeps the workflow's build arguments, these ARGs and the script's
# in step.
#
# No `# syntax=` line: every feature used here (RUN --mount, COPY --chmod) is in BuildKit's
# built-in Dockerfile frontend (Docker >= 20.10, buildx), and a syntax line would make every
# build fetch the frontend image from Docker Hub, which offline builders cannot.
#
# TLS is rustls everywhere (aws-lc-rs / ring, statically linked), so the image needs no OpenSSL:
# only glibc, libgcc_s and CA certificates, all of which distroless/cc ships.
# See docs/deployment.md for the dynamic-library check.

ARG SERVICE=user-service
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
# builder: compile in the builder stage; prebuilt: copy prebuilt/${SERVICE} from the context.
ARG BINARY_FROM=builder
# OCI labels (the release workflow also sets them through docker/metadata-action).
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/example/user-platform

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
ARG SERVICE
# cargo auditable embeds the dependency list (name, version, source) in the binary, so the image's
# binary can be checked against advisories without the source (scripts/audit_binaries.py).
ARG CARGO_AUDITABLE_VERSION=0.7.7
WORKDIR /src

# aws-lc-sys builds its C sources with cc; cmake and clang are not required on x86_64/aarch64
# Linux, but cmake is cheap insurance for other targets.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/* \
 && cargo install --locked "cargo-auditable@${CARGO_AUDITABLE_VERSION}"

COPY Cargo.toml Cargo.lock ./
COPY services ./services

# The target dir lives in a cache mount, so the binary is copied out of it within the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,id=target-${SERVICE},sharing=locked \
    case "${SERVICE}" in user-service|mail-service) ;; \
      *) echo "SERVICE must be user-service or mail-service, got '${SERVICE}'" >&2; exit 1 ;; esac \
 && cargo auditable build --release --locked -p "${SERVICE}" \
 && mkdir -p /out \
 && cp "target/release/${SERVICE}" /out/

# ---------------------------------------------------------------------------------------------
# The same binary built on the host (scripts/images.sh): the build context is a directory with
# prebuilt/user-service or prebuilt/mail-service.
FROM scratch AS prebuilt
ARG SERVICE
COPY prebuilt/${SERVICE} /out/${SERVICE}

FROM ${BINARY_FROM} AS binary

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
ARG VERSION
ARG REVISION
ARG CREATED
ARG SOURCE
LABEL org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so the kubelet can verify runAsNonRoot without a passwd lookup (distroless nonroot).
USER 65532:65532

# user-service: public API on 8080, admin (/healthz /readyz /metrics) on 9090.
FROM runtime-base AS user-service
COPY --from=binary --chown=root:root --chmod=0755 /out/user-service /usr/local/bin/user-service
LABEL org.opencontainers.image.title="user-service"
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/user-service"]

# mail-service: admin (/healthz /readyz /metrics) on 9091; it only consumes AMQP.
FROM runtime-base AS mail-service
COPY --from=binary --chown=root:root --chmod=0755 /out/mail-service /usr/local/bin/mail-service
LABEL org.opencontainers.image.title="mail-service"
USER 65532:65532
EXPOSE 9091
ENTRYPOINT ["/usr/local/bin/mail-service"]

# The image that is built by default: the stage named by SERVICE.
FROM ${SERVICE} AS final
