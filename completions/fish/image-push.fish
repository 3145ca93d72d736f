complete -c image-push -l chunk-size -d 'Upload each blob in PATCH requests of this size (as registries with a request limit need, such as GHCR\'s 4 MiB) instead of one PUT' -r
complete -c image-push -l digestfile -d 'Also write the manifest digest to this file' -r -F
complete -c image-push -l compression -d 'What uncompressed layers become on the way: gzip, zstd or none (pushed as tars). Compressed layers are pushed as they are' -r
complete -c image-push -l compression-level -d 'Compression level (gzip 1-9, default 6; zstd 1-22, default 3)' -r
complete -c image-push -l creds -d 'Credentials for the registry, USER:PASSWORD (USER alone asks for the password on the terminal). Without it: $REGISTRY_AUTH_FILE, the containers auth.json, then ~/.docker/config.json and its helpers' -r
complete -c image-push -l cert-dir -d 'A directory of certificates for the registry: *.crt are CAs trusted beside the system\'s, NAME.cert with NAME.key a client certificate. Default: /etc/containers/certs.d/HOST and /etc/docker/certs.d/HOST' -r -F
complete -c image-push -l tls-verify -d 'Verify the registry\'s TLS certificate (true even for loopback hosts, which otherwise may be plain HTTP), or not (false: any certificate, and plain HTTP where the host has no TLS)' -r -f -a "true\t''
false\t''"
complete -c image-push -l insecure-registry -d 'Treat this host as Docker treats an insecure registry (repeatable): unverified TLS, or plain HTTP. Loopback hosts always are' -r
complete -c image-push -l retries -d 'Retries of a request or a transfer after a dropped connection, a 429 or a 5xx, with exponential backoff (and Retry-After honoured)' -r
complete -c image-push -l jobs -d 'Blobs moved at once' -r
complete -c image-push -l platform -d 'The platform to choose from a multi-platform image (default: the host\'s)' -r
complete -c image-push -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-push -s q -l quiet -d 'No progress on stderr'
complete -c image-push -s h -l help -d 'Print help (see more with \'--help\')'
complete -c image-push -s V -l version -d 'Print version'
