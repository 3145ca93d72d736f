complete -c image-pull -s t -l tag -d 'Also tag the image in the store under this name (repeatable)' -r
complete -c image-pull -s o -l output -d 'Write the image to an OCI layout (oci:DIR[:REF]) or an OCI archive (oci-archive:FILE[:REF], \'-\' for stdout) instead of the store' -r
complete -c image-pull -l creds -d 'Credentials for the registry, USER:PASSWORD (USER alone asks for the password on the terminal). Without it: $REGISTRY_AUTH_FILE, the containers auth.json, then ~/.docker/config.json and its helpers' -r
complete -c image-pull -l cert-dir -d 'A directory of certificates for the registry: *.crt are CAs trusted beside the system\'s, NAME.cert with NAME.key a client certificate. Default: /etc/containers/certs.d/HOST and /etc/docker/certs.d/HOST' -r -F
complete -c image-pull -l tls-verify -d 'Verify the registry\'s TLS certificate (true even for loopback hosts, which otherwise may be plain HTTP), or not (false: any certificate, and plain HTTP where the host has no TLS)' -r -f -a "true\t''
false\t''"
complete -c image-pull -l insecure-registry -d 'Treat this host as Docker treats an insecure registry (repeatable): unverified TLS, or plain HTTP. Loopback hosts always are' -r
complete -c image-pull -l retries -d 'Retries of a request or a transfer after a dropped connection, a 429 or a 5xx, with exponential backoff (and Retry-After honoured)' -r
complete -c image-pull -l jobs -d 'Blobs moved at once' -r
complete -c image-pull -l platform -d 'The platform to choose from a multi-platform image (default: the host\'s)' -r
complete -c image-pull -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-pull -l all-platforms -d 'Keep the whole index of a multi-platform image, every platform\'s image in it (as `ctr pull --all-platforms`, `skopeo copy --all`); the layers of the host\'s platform are unpacked as they arrive'
complete -c image-pull -s q -l quiet -d 'No progress on stderr'
complete -c image-pull -s h -l help -d 'Print help (see more with \'--help\')'
complete -c image-pull -s V -l version -d 'Print version'
