complete -c layer-diff -l upper -d 'An overlayfs upper directory to turn into a layer' -r -F
complete -c layer-diff -l lower -d 'With --upper: what lies under it (repeatable; best the one merged root, say from image-store mount), to report a change as modified rather than added, and to write an opaque directory as BuildKit does: a plain directory where the lower has none, else whiteouts of the lower entries it lacks, with no opaque marker' -r -F
complete -c layer-diff -l dir -d 'A whole directory (or file) as a layer' -r -F
complete -c layer-diff -l to -d 'With --dir: where in the layer the tree goes (default /)' -r
complete -c layer-diff -l chown -d 'With --dir: owner UID:GID (or UID, which is the GID too) for every entry. With --parents-in, USER[:GROUP] names too, looked up in that root\'s /etc/passwd and /etc/group' -r
complete -c layer-diff -l parents-in -d 'With --dir: the root filesystem the layer will go on (a mounted image): the destination\'s parents it has, and the destination directory a directory\'s contents go into, are written as they are there (mode, owner, mtime), so they keep them, as COPY leaves them; those it lacks are written 0755, owned as --chown says. Without it every parent is written, root\'s and 0755' -r -F
complete -c layer-diff -l chmod -d 'With --dir: octal mode for every file and directory' -r
complete -c layer-diff -l exclude -d 'With --dir: leave out paths matching a .dockerignore pattern (repeatable)' -r
complete -c layer-diff -l apply -d 'Read a layer tar on stdin and apply it to DIR (created if missing)' -r -F
complete -c layer-diff -l compare -d 'How OLD NEW decide that a file changed (two-tree mode only)' -r -f -a "metadata\t'Type, mode, owner, xattrs, size and mtime, as Docker\'s change walker'
content\t'All that metadata compares, and the bytes too: a file rewritten with its size and mtime kept still counts as changed'"
complete -c layer-diff -l mtime -d 'Clamp every mtime in the layer written to at most this many seconds since 1970 (default: $SOURCE_DATE_EPOCH when set). Not used by --apply, which keeps the layer\'s own times' -r
complete -c layer-diff -l fix-upper -d 'With --upper and --lower: make the upper dir itself say what the layer says (opaque marks dropped, whiteouts made for what they hid), so it can be kept as the layer\'s unpacked copy and stacked on any parent'
complete -c layer-diff -l skip-existing -d 'With --parents-in: a destination directory the root already has, with nothing to put in it, gives a layer with no entries; a missing one is written with its parents as the root has them, as an overlay copies them up (how WORKDIR makes its directory only where it is missing, and leaves its parents to their owners)'
complete -c layer-diff -l archive -d 'With --apply: stdin is an archive, not a layer (what ADD unpacks): a tar, plain or compressed with gzip, bzip2, xz or zstd, whose `.wh.` names are ordinary files. Still confined to DIR'
complete -c layer-diff -l changes -d 'Print JSON lines {"path":…,"kind":"added|modified|deleted"} (as docker diff reports) instead of a tar'
complete -c layer-diff -s h -l help -d 'Print help (see more with \'--help\')'
complete -c layer-diff -s V -l version -d 'Print version'
