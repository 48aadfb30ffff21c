# shoutd and shout in a slim image.
#   docker build -t shout .
#   docker run --rm -p 9999:9999 shout
# Build stage: the official Rust image.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY common common
COPY server server
COPY client client
COPY tests tests
RUN cargo build --release --locked --bin shoutd --bin shout

# Run stage: slim Debian, a non-root user, both binaries.
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin shout
COPY --from=build /src/target/release/shoutd /src/target/release/shout /usr/local/bin/
USER shout
# 9999: the protocol; 9100: Prometheus metrics when --metrics-listen is given.
EXPOSE 9999 9100
# Healthy when a round trip through the real protocol comes back uppercased.
HEALTHCHECK --interval=10s --timeout=3s --start-period=2s --retries=3 \
  CMD printf 'health' | shout --connect-timeout 2s 127.0.0.1:9999 | grep -qx HEALTH || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["shoutd"]
CMD ["--listen", "0.0.0.0:9999"]
