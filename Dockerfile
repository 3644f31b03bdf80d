# syntax=docker/dockerfile:1

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/cic ./cmd/cic

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin cic \
 && install -d -o cic -g cic /data
COPY --from=build /out/cic /usr/local/bin/cic
USER cic
# JWT signing keys live in DATA_DIR unless JWT_KEYS is set; keep it on a volume.
ENV HTTP_ADDR=:8080 DATA_DIR=/data
WORKDIR /data
VOLUME /data
EXPOSE 8080
CMD ["cic", "serve"]
