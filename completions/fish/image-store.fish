# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_image_store_global_optspecs
    string join \n store= h/help V/version
end

function __fish_image_store_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_image_store_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_image_store_using_subcommand
    set -l cmd (__fish_image_store_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c image-store -n "__fish_image_store_needs_command" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_needs_command" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_needs_command" -s V -l version -d 'Print version'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "ls" -d 'List images, as `docker images` does'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "inspect" -d 'Show images\' manifests and configs as a JSON array'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "tag" -d 'Give an image another name'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "rm" -d 'Remove names (untag). Blobs stay until gc'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "gc" -d 'Delete what no tag reaches: untagged images, unreferenced blobs, unpacked layers no kept image lists (those a running container or a mount stacks stay) and leftovers of interrupted writes. Safe while other tools write'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "du" -d 'Disk usage: per image, its blobs, the part it shares with other images and the part only it uses (as `docker system df -v`); then every byte under the store by what holds it (image blobs, unpacked layers, containers, build cache, cache mounts, running builds, other), adding up to what du -sb counts (each inode once; what is mounted below the store is not counted)'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "path" -d 'Print the store\'s path'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "mount" -d 'Mount an image\'s filesystem read-only at DIR (as `buildah mount`): its layers, unpacked once into the store, stacked with overlayfs. Needs root'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "save" -d 'Write an image out of the store, as `docker save` and `podman save` do: into an OCI layout, an oci-archive or a docker-archive (\'-\' as FILE is stdout). The image is the same (same manifest, same digest) unless the store keeps its layers uncompressed: those are compressed as they leave, as --compression says, once (the store remembers the result, and compression is deterministic)'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "umount" -d 'Unmount what `mount` mounted at DIR'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "history" -d 'An image\'s history, newest step first, as `docker history`'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "load" -d 'Load the images of a docker-archive (`docker save`\'s format) or an oci-archive into the store, named as the archive names them, as `docker load`'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "manifest" -d 'Multi-platform images: join images into an index, show one'
complete -c image-store -n "__fish_image_store_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -l format -d 'A Go-style template per image: {{.Repository}}, {{.Tag}}, {{.ID}}, {{.Digest}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.Size}} (as docker images: the layers\' uncompressed sizes), {{.Labels}}, {{json .}}; a leading "table " prints a header' -r
complete -c image-store -n "__fish_image_store_using_subcommand ls" -s f -l filter -d 'reference=PATTERN (glob on NAME or NAME:TAG), label=KEY[=VALUE], dangling=true|false. Repeatable: references are OR\'ed, the rest AND\'ed' -r
complete -c image-store -n "__fish_image_store_using_subcommand ls" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand ls" -s a -l all -d 'Also the names image-build keeps for itself (the steps of builds that run, the states failed RUNs stopped in), as docker images -a shows intermediate images'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -s q -l quiet -d 'Only image IDs'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -l json -d 'A JSON array instead of a table'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -l no-trunc -d 'Full image IDs'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -l digests -d 'Show manifest digests'
complete -c image-store -n "__fish_image_store_using_subcommand ls" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand inspect" -s f -l format -d 'A line per image from a template instead of the JSON array: {{.Digest}}, {{.Id}}, {{.Names}} (comma-separated), {{json .}}' -r
complete -c image-store -n "__fish_image_store_using_subcommand inspect" -l platform -d 'Of a multi-platform image, the image for this platform (default: the host\'s)' -r
complete -c image-store -n "__fish_image_store_using_subcommand inspect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand inspect" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand tag" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand tag" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand rm" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand rm" -s f -l force -d 'Remove every name of an image given by ID, even across repositories'
complete -c image-store -n "__fish_image_store_using_subcommand rm" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand gc" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand gc" -l json -d 'Print the report as JSON'
complete -c image-store -n "__fish_image_store_using_subcommand gc" -l build-cache -d 'Also forget image-build\'s cache, so the images only it kept go too (as `docker builder prune -a`)'
complete -c image-store -n "__fish_image_store_using_subcommand gc" -l keep-failed -d 'Keep the states failed RUNs stopped in (the images the build\'s error names to debug it), which gc otherwise removes once their build is over'
complete -c image-store -n "__fish_image_store_using_subcommand gc" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand du" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand du" -l json -d 'Print JSON instead of a table'
complete -c image-store -n "__fish_image_store_using_subcommand du" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand path" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand path" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand mount" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand mount" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand save" -l name -d 'The names a docker-archive gives the image (repeatable; \'\' for none), instead of the names the store gives it' -r
complete -c image-store -n "__fish_image_store_using_subcommand save" -l compression -d 'What uncompressed layers become: gzip, zstd or none' -r
complete -c image-store -n "__fish_image_store_using_subcommand save" -l compression-level -d 'Compression level (gzip 1-9, default 6; zstd 1-22, default 3)' -r
complete -c image-store -n "__fish_image_store_using_subcommand save" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand save" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand umount" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand umount" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand history" -s H -l human -d 'Sizes and dates for people (the default); false prints bytes and RFC 3339 times' -r -f -a "true\t''
false\t''"
complete -c image-store -n "__fish_image_store_using_subcommand history" -l format -d 'A Go-style template per step: {{.ID}}, {{.CreatedSince}}, {{.CreatedAt}}, {{.CreatedBy}}, {{.Size}}, {{.Comment}}, {{json .}}; a leading "table " prints a header' -r
complete -c image-store -n "__fish_image_store_using_subcommand history" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand history" -l no-trunc -d 'Do not cut the commands short'
complete -c image-store -n "__fish_image_store_using_subcommand history" -s q -l quiet -d 'Only the image ID on its line (<missing> on the others)'
complete -c image-store -n "__fish_image_store_using_subcommand history" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand load" -s i -l input -d 'The archive (default: stdin)' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand load" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand load" -s q -l quiet -d 'Print nothing'
complete -c image-store -n "__fish_image_store_using_subcommand load" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and not __fish_seen_subcommand_from create inspect help" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and not __fish_seen_subcommand_from create inspect help" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and not __fish_seen_subcommand_from create inspect help" -f -a "create" -d 'Join images of different platforms into one index named NAME (a name it had moves to the new index). An image that is itself a whole index adds every image it lists. Prints the index digest'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and not __fish_seen_subcommand_from create inspect help" -f -a "inspect" -d 'Print an index (or a manifest) as the store holds it, byte for byte'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and not __fish_seen_subcommand_from create inspect help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -l format -d 'OCI makes an OCI image index; docker a Docker manifest list (every image must then be a Docker manifest). Default: a list when every image is a Docker manifest, else an OCI index' -r -f -a "oci\t''
docker\t''"
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -l annotation -d 'An annotation of the index (repeatable; OCI only)' -r
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -l image-annotation -d 'An annotation of each image\'s entry in the index (repeatable; OCI only): buildx\'s manifest-descriptor level' -r
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -l attest -d 'Attach the in-toto statement in FILE (a provenance, an SBOM) to IMAGE, one of the images, as BuildKit attaches attestations: an attestation manifest in the index (repeatable). The statement\'s subject must name IMAGE\'s manifest digest' -r
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from inspect" -l store -d 'The local store (an OCI image layout). Default: $SLIPWAY_STORE, else /var/lib/slipway as root, else $XDG_DATA_HOME/slipway' -r -F
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from inspect" -s h -l help -d 'Print help'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "create" -d 'Join images of different platforms into one index named NAME (a name it had moves to the new index). An image that is itself a whole index adds every image it lists. Prints the index digest'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "inspect" -d 'Print an index (or a manifest) as the store holds it, byte for byte'
complete -c image-store -n "__fish_image_store_using_subcommand manifest; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "ls" -d 'List images, as `docker images` does'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "inspect" -d 'Show images\' manifests and configs as a JSON array'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "tag" -d 'Give an image another name'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "rm" -d 'Remove names (untag). Blobs stay until gc'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "gc" -d 'Delete what no tag reaches: untagged images, unreferenced blobs, unpacked layers no kept image lists (those a running container or a mount stacks stay) and leftovers of interrupted writes. Safe while other tools write'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "du" -d 'Disk usage: per image, its blobs, the part it shares with other images and the part only it uses (as `docker system df -v`); then every byte under the store by what holds it (image blobs, unpacked layers, containers, build cache, cache mounts, running builds, other), adding up to what du -sb counts (each inode once; what is mounted below the store is not counted)'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "path" -d 'Print the store\'s path'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "mount" -d 'Mount an image\'s filesystem read-only at DIR (as `buildah mount`): its layers, unpacked once into the store, stacked with overlayfs. Needs root'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "save" -d 'Write an image out of the store, as `docker save` and `podman save` do: into an OCI layout, an oci-archive or a docker-archive (\'-\' as FILE is stdout). The image is the same (same manifest, same digest) unless the store keeps its layers uncompressed: those are compressed as they leave, as --compression says, once (the store remembers the result, and compression is deterministic)'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "umount" -d 'Unmount what `mount` mounted at DIR'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "history" -d 'An image\'s history, newest step first, as `docker history`'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "load" -d 'Load the images of a docker-archive (`docker save`\'s format) or an oci-archive into the store, named as the archive names them, as `docker load`'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "manifest" -d 'Multi-platform images: join images into an index, show one'
complete -c image-store -n "__fish_image_store_using_subcommand help; and not __fish_seen_subcommand_from ls inspect tag rm gc du path mount save umount history load manifest help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c image-store -n "__fish_image_store_using_subcommand help; and __fish_seen_subcommand_from manifest" -f -a "create" -d 'Join images of different platforms into one index named NAME (a name it had moves to the new index). An image that is itself a whole index adds every image it lists. Prints the index digest'
complete -c image-store -n "__fish_image_store_using_subcommand help; and __fish_seen_subcommand_from manifest" -f -a "inspect" -d 'Print an index (or a manifest) as the store holds it, byte for byte'
