# syntax=docker/dockerfile:1
# Twofold's container image: static binaries on a distroless base, as a
# non-root user, with the factor plugins and their checksum manifest inside.
#   docker build -t twofold --build-arg TWOFOLD_COMMIT=$(git rev-parse --short HEAD) .
# scripts/docker-build-check.sh runs this file's build stage (its RUN lines)
# and checks the binaries and manifest; keep ENV one variable per line.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG TWOFOLD_COMMIT=unknown
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build TWOFOLD_COMMIT=$TWOFOLD_COMMIT scripts/build-static.sh /out

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/twofold /usr/local/bin/twofold
COPY --from=build /out/plugins /usr/local/lib/twofold/plugins
COPY --from=build /out/plugins.sha256 /usr/local/lib/twofold/plugins.sha256
# The SQLite default's folder, owned by the nonroot user (65532).
COPY --from=build --chown=65532:65532 /out/data /var/lib/twofold
ENV TWOFOLD_HTTP_ADDR=0.0.0.0:8080
ENV TWOFOLD_DATABASE_URL=sqlite:///var/lib/twofold/twofold.db
ENV TWOFOLD_PLUGIN_DIR=/usr/local/lib/twofold/plugins
ENV TWOFOLD_PLUGIN_CHECKSUMS=@/usr/local/lib/twofold/plugins.sha256
VOLUME /var/lib/twofold
WORKDIR /var/lib/twofold
USER 65532:65532
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["/usr/local/bin/twofold", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/twofold"]
CMD ["serve"]
