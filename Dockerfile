# syntax=docker/dockerfile:1.7
#
# One Dockerfile for both services:
#   docker build --build-arg SERVICE=user-service -t user-service .
#   docker build --build-arg SERVICE=mail-service -t mail-service .
#
# TLS is rustls everywhere (aws-lc-rs / ring, statically linked), so the image needs no OpenSSL:
# only glibc, libgcc_s and CA certificates, all of which distroless/cc ships.
# See docs/deployment.md for the dynamic-library check.

ARG SERVICE=user-service
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---------------------------------------------------------------------------------------------
FROM ${RUST_IMAGE} AS builder
ARG SERVICE
WORKDIR /src

# aws-lc-sys builds its C sources with cc; cmake and clang are not required on x86_64/aarch64
# Linux, but cmake is cheap insurance for other targets.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake \
 && rm -rf /var/lib/apt/lists/*

COPY Cargo.toml Cargo.lock ./
COPY services ./services

# The target dir lives in a cache mount, so the binary is copied out of it within the same RUN.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,id=target-${SERVICE},sharing=locked \
    case "${SERVICE}" in user-service|mail-service) ;; \
      *) echo "SERVICE must be user-service or mail-service, got '${SERVICE}'" >&2; exit 1 ;; esac \
 && cargo build --release --locked -p "${SERVICE}" \
 && mkdir -p /out \
 && cp "target/release/${SERVICE}" /out/

# ---------------------------------------------------------------------------------------------
FROM ${RUNTIME_IMAGE} AS runtime-base
LABEL org.opencontainers.image.source="user-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so the kubelet can verify runAsNonRoot without a passwd lookup (distroless nonroot).
USER 65532:65532

# user-service: public API on 8080, admin (/healthz /readyz /metrics) on 9090.
FROM runtime-base AS user-service
COPY --from=builder --chown=root:root --chmod=0755 /out/user-service /usr/local/bin/user-service
LABEL org.opencontainers.image.title="user-service"
USER 65532:65532
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/user-service"]

# mail-service: admin (/healthz /readyz /metrics) on 9091; it only consumes AMQP.
FROM runtime-base AS mail-service
COPY --from=builder --chown=root:root --chmod=0755 /out/mail-service /usr/local/bin/mail-service
LABEL org.opencontainers.image.title="mail-service"
USER 65532:65532
EXPOSE 9091
ENTRYPOINT ["/usr/local/bin/mail-service"]

# The image that is built by default: the stage named by SERVICE.
FROM ${SERVICE} AS final
