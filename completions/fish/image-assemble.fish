complete -c image-assemble -l base -d 'The base image: NAME[:TAG|@DIGEST] in the store, oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG], or scratch' -r
complete -c image-assemble -s t -l tag -d 'Tag the image into the store under this name (repeatable). Without --tag or --output the image goes into the store untagged' -r
complete -c image-assemble -s o -l output -d 'Write the image here instead of (or, with --tag, as well as) the store: oci:DIR[:REF], oci-archive:FILE[:REF] or docker-archive:FILE[:NAME:TAG] (\'-\' as FILE is stdout)' -r
complete -c image-assemble -l compression -d 'Compression of the new layers: gzip, zstd or none' -r
complete -c image-assemble -l compression-level -d 'Compression level (gzip 1-9, default 6; zstd 1-22, default 3)' -r
complete -c image-assemble -l threads -d 'Compression threads (default: one per core). The output does not depend on it' -r
complete -c image-assemble -l format -d 'Manifest and config media types: oci, or docker (schema 2)' -r -f -a "oci\t''
docker\t''"
complete -c image-assemble -l platform -d 'The platform of an image on scratch, and the one chosen from a multi-platform base (default: the host\'s)' -r
complete -c image-assemble -l edits -d 'Config edits as a JSON document (a file, or \'-\' for stdin); see image-assemble-edits(5). Flags apply after it' -r
complete -c image-assemble -s e -l env -d 'Set an environment variable (KEY=VALUE, repeatable)' -r
complete -c image-assemble -l cmd -d 'The default command: a JSON array (exec form) or a string (shell form)' -r
complete -c image-assemble -l entrypoint -d 'The entrypoint: a JSON array (exec form) or a string (shell form). As in a Dockerfile, it drops an inherited CMD unless --cmd is given' -r
complete -c image-assemble -s w -l workdir -d 'The working directory (relative to the previous one)' -r
complete -c image-assemble -s u -l user -d 'The user (NAME or UID, optionally :GROUP)' -r
complete -c image-assemble -l expose -d 'Expose a port: PORT[/PROTO] or a range START-END[/PROTO] (repeatable)' -r
complete -c image-assemble -s l -l label -d 'Set a config label (KEY=VALUE, repeatable)' -r
complete -c image-assemble -l volume -d 'Declare a volume (repeatable)' -r
complete -c image-assemble -l stopsignal -d 'The signal that stops the container (SIGTERM, 9, …)' -r
complete -c image-assemble -l healthcheck -d 'A HEALTHCHECK as the instruction writes it: NONE, or "[--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD command"' -r
complete -c image-assemble -l shell -d 'The shell for shell-form commands, as a JSON array' -r
complete -c image-assemble -l onbuild -d 'Add an ONBUILD trigger (repeatable)' -r
complete -c image-assemble -l author -d 'The image author' -r
complete -c image-assemble -l annotation -d 'Set a manifest annotation (KEY=VALUE, repeatable)' -r
complete -c image-assemble -l history -d 'History text for the new layers, in order (repeatable). With no layers, the texts become metadata-only (empty_layer) entries in place of one entry per edit' -r
complete -c image-assemble -l digestfile -d 'Also write the manifest digest to this file' -r -F
complete -c image-assemble -l layers-of -d 'Add the layers of this image on top of the base, before the LAYER files: the same blobs (no recompression) with their diff IDs and history, as BuildKit rebases a COPY --link layer. Repeatable' -r
complete -c image-assemble -l top-layer-of -d 'Add the top layer of this image on top of the base, after any --layers-of: its blob as it is, its diff ID and the history entry that made it. How the build cache puts a step\'s layer, made on a parent that differs only in metadata, onto the new parent' -r
complete -c image-assemble -l unpacked -d 'DIR holds the one LAYER given, unpacked as an overlayfs upper dir (what container-run --upper left and layer-diff --upper read): it is moved into the store as that layer\'s unpacked copy, so a container of the new image does not extract the layer again. Left where it is when it cannot be moved (another filesystem)' -r -F
complete -c image-assemble -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-assemble -l clear-onbuild -d 'Drop the base image\'s ONBUILD triggers (once a build has run them, as docker build does); --onbuild adds new ones after'
complete -c image-assemble -l skip-empty -d 'A LAYER with no entries (a step that changed nothing) is left out, its --history text kept as a metadata-only (empty_layer) entry, as BuildKit leaves out empty layers'
complete -c image-assemble -l no-edit-history -d 'The edits add no history entries of their own: the --history texts already say what the step did (as WORKDIR\'s, which makes a layer and sets the working directory)'
complete -c image-assemble -l json -d 'Print the manifest descriptor as JSON instead of the digest'
complete -c image-assemble -l unpack -d 'Unpack each LAYER into the store\'s unpacked layers as it is stored (as image-pull does), so a container of the new image stacks it instead of extracting it: what image-build asks for a COPY, whose files are then written once. As root; rootless, a layer is unpacked inside the user namespace that owns it, at first use'
complete -c image-assemble -s q -l quiet -d 'No progress lines on stderr'
complete -c image-assemble -s h -l help -d 'Print help (see more with \'--help\')'
complete -c image-assemble -s V -l version -d 'Print version'
