# ---- build: SQLite, libpq and OpenSSL are compiled into the binary (it needs only libc) ----
# Plain RUN steps: this builds with BuildKit and with the classic builder alike.
# cargo-chef builds the dependencies from the manifests and Cargo.lock alone, in a layer of their
# own: a change to modelgate's sources rebuilds modelgate, not its dependencies and OpenSSL.
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /src

FROM chef AS plan
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=plan /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --package modelgate-server --recipe-path recipe.json
COPY . .
# The build context has no .git: pass the commit for /version (`--build-arg MODELGATE_GIT_COMMIT=$(git rev-parse --short=12 HEAD)`).
ARG MODELGATE_GIT_COMMIT=unknown
RUN cargo build --release --locked -p modelgate-server \
 && install -m 0755 target/release/modelgate /usr/local/bin/modelgate

# ---- runtime: Debian slim, a non-root user, nothing else ----
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/modelgate --create-home modelgate
COPY --from=build /usr/local/bin/modelgate /usr/local/bin/modelgate
COPY catalog/models.json /usr/share/modelgate/catalog/models.json

# The OpenSSL built into the binary looks for CA roots under /usr/local/ssl: point it at the
# system store, so TLS to Postgres (sslmode=verify-full, sslrootcert=system) can verify servers.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_DIR=/etc/ssl/certs \
    MODELGATE_LISTEN=0.0.0.0:8080 \
    MODELGATE_DATA_DIR=/var/lib/modelgate \
    MODELGATE_CATALOG=/usr/share/modelgate/catalog/models.json \
    MODELGATE_LOG_FORMAT=json
USER modelgate
WORKDIR /var/lib/modelgate
VOLUME ["/var/lib/modelgate"]
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["modelgate", "healthcheck"]
ENTRYPOINT ["modelgate"]
CMD ["serve"]
