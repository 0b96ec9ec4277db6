# Build and run civic311. Used by docker-compose.yml.
FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --bin civic311

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/civic311 --create-home civic311
COPY --from=build /src/target/release/civic311 /usr/local/bin/civic311
COPY examples /usr/share/civic311/examples
USER civic311
WORKDIR /var/lib/civic311
ENV CIVIC311_BIND=0.0.0.0:8080 CIVIC311_DATA_DIR=/var/lib/civic311/data
EXPOSE 8080
ENTRYPOINT ["civic311"]
CMD ["serve"]
