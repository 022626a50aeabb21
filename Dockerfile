# The switchboard binary in a small image. Used by compose.yaml.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin switchboard

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl libssl3 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/switchboard /usr/local/bin/switchboard
COPY models /usr/share/switchboard/models
# The data directory (a knowledge-base index) of the api and kb services.
RUN mkdir -p /var/lib/switchboard && chown nobody /var/lib/switchboard
WORKDIR /var/lib/switchboard
USER nobody
ENTRYPOINT ["switchboard"]
