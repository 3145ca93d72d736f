complete -c image-build -s t -l tag -d 'Name the image NAME[:TAG] (repeatable)' -r
complete -c image-build -s f -l file -d 'The Dockerfile (\'-\' for stdin). Default: CONTEXT/Dockerfile' -r -F
complete -c image-build -l build-arg -d 'A build argument (repeatable); KEY alone takes the value from the environment' -r
complete -c image-build -l build-context -d 'A named context, as buildx\'s (repeatable): NAME=DIR, NAME=docker-image://REF, NAME=oci-layout://DIR[:TAG], or a git repository or tar\'s URL (fetched as a context is). FROM NAME, COPY --from=NAME and RUN --mount from=NAME take it instead of the image of that name (a directory as an image of one layer of its files, less what its .dockerignore leaves out)' -r
complete -c image-build -l target -d 'Build this stage (by name) and the stages it needs, not the last one' -r
complete -c image-build -l label -d 'Set a label on the final image (repeatable); KEY alone sets an empty value, as docker build does' -r
complete -c image-build -s o -l output -d 'Where the result goes besides the store, as buildx\'s --output: type=local,dest=DIR (the final stage\'s files; `-o DIR` too), type=tar,dest=FILE (them as one tar; `-o -` for stdout), type=oci,dest=FILE[,tar=false] and type=docker,dest=FILE (the image as an archive or layout), type=image,name=NAME[,NAME…][,push=true] or type=registry,name=… (names, pushed); or oci:DIR[:REF], oci-archive:FILE[:REF], docker-archive:FILE[:NAME:TAG] (\'-\' as FILE is stdout, which then carries nothing else). Without --tag the store keeps no name for it' -r
complete -c image-build -l metadata-file -d 'Write what buildx writes of the build to FILE as JSON: containerimage.digest, containerimage.config.digest, image.name, buildx.build.ref, and slipway.cache.misses (each step that ran, and why the cache did not have it)' -r -F
complete -c image-build -l annotation -d 'An annotation (repeatable): KEY=VALUE or manifest:KEY=VALUE on each image\'s manifest; index:KEY=VALUE on the index of a multi-platform build (manifest,index:… on both); manifest-descriptor:KEY=VALUE on each image\'s entry in that index. index-descriptor is refused' -r
complete -c image-build -l provenance -d 'Attach a SLSA provenance attestation (v0.2, as BuildKit makes it) to each image: true or mode=min (the Dockerfile\'s digest, the base images by digest, a git context\'s commit, platform and times), mode=max (also the build arguments\' values, secret and ssh ids and the Dockerfile), false (none, the default). The result is then an index of the image and its attestation, as buildx pushes it' -r
complete -c image-build -l attest -d 'buildx\'s --attest type=provenance[,mode=min|max]: as --provenance. (type=sbom is not made.)' -r
complete -c image-build -l format -d 'The image\'s media types, as buildah bud\'s --format: oci, or docker (schema 2 manifests, and a Docker manifest list for several --platform)' -r -f -a "oci\t''
docker\t''"
complete -c image-build -l compression -d 'What the layers are compressed with as the image leaves the machine (--output, --push, --cache-to): gzip, zstd or none. In the store they stay uncompressed, so no step waits on a compressor' -r
complete -c image-build -l compression-level -d 'Compression level (gzip 1-9, default 6; zstd 1-22, default 3)' -r
complete -c image-build -l cache-from -d 'Import a build cache that --cache-to pushed: a registry reference (REG/REPO:TAG, or type=registry,ref=REG/REPO:TAG). Steps this store misses and the cache has are pulled instead of run. Repeatable' -r
complete -c image-build -l cache-to -d 'Export this build\'s cache to a registry: every step\'s image by digest, and their index under REF (REG/REPO:TAG), for --cache-from on other machines' -r
complete -c image-build -l runtime -d 'Run RUN steps with another OCI runtime (runc, crun, or a path) through a runtime bundle: container-run --runtime' -r
complete -c image-build -l platform -d 'The platform to build for (default: the host\'s): its base images pulled for it, its RUN steps run under the emulator binfmt_misc has for it (qemu-user-static, registered with the fix-binary flag); a `FROM --platform=$BUILDPLATFORM` stage runs natively. TARGETPLATFORM, TARGETARCH… are set from it. Several, comma separated (or the flag repeated): each built, and the images joined into one index (a Docker manifest list when they are Docker manifests), named, written out and pushed as one image' -r
complete -c image-build -l iidfile -d 'Write the image ID (the config digest) to this file' -r -F
complete -c image-build -l network -d 'The network of RUN steps: private (their own namespace, as Docker\'s default bridge), host, or none. RUN --network overrides it' -r -f -a "private\t''
host\t''
none\t''"
complete -c image-build -l secret -d 'A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VAR (id=ID alone: the variable ID if set, else the file ID). Repeatable. Its bytes never go into a layer, the history or a cache key' -r
complete -c image-build -l ssh -d 'An SSH agent for RUN --mount=type=ssh: default (the one at $SSH_AUTH_SOCK), ID=SOCKET, or ID=KEY[,KEY…] (served by an ssh-agent started for the build). Repeatable. The agent is reached from those RUNs only; nothing of it goes into a layer' -r
complete -c image-build -l progress -d 'plain: one line per event and the RUN output as it comes; tty: the steps under way redrawn in place with the last lines of their output; quiet: nothing but errors; auto: tty when stderr is a terminal, else plain' -r -f -a "auto\t''
plain\t''
tty\t''
quiet\t''"
complete -c image-build -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-build -l push -d 'Push every --tag to its registry (image-push) once built'
complete -c image-build -l no-cache -d 'Do not take any step from the build cache (each one still records what it makes, for the next build)'
complete -c image-build -l pull -d 'Pull every image the build names (FROM, COPY --from) even when the store has it; without it only missing images are pulled'
complete -c image-build -l print-script -d 'Print the build as a POSIX shell script of tool calls instead of running it; any line can be rerun alone'
complete -c image-build -l explain -d 'Build nothing: look every step up in the cache and print, step by step, whether it is cached or would run and why (its base image, a build arg, the files that changed, the instruction\'s text, a parent step that would re-run). Nothing is pulled, made or recorded'
complete -c image-build -l check -d 'Run the build checks only, as docker build --check: print what they find and build nothing; exit 1 when they found anything'
complete -c image-build -s q -l quiet -d 'No progress: --progress quiet'
complete -c image-build -s h -l help -d 'Print help (see more with \'--help\')'
complete -c image-build -s V -l version -d 'Print version'
