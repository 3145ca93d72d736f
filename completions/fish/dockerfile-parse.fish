complete -c dockerfile-parse -l format -d 'Output format: plan (the build plan, see dockerfile-plan(5)), ast (the syntax tree as JSON) or buildkit-ast (BuildKit\'s dump)' -r -f -a "plan\t''
ast\t''
buildkit-ast\t''"
complete -c dockerfile-parse -l build-arg -d 'A build argument (repeatable): overrides ARG defaults' -r
complete -c dockerfile-parse -l target -d 'Build this stage (by name); the plan marks the stages it needs' -r
complete -c dockerfile-parse -l platform -d 'The target platform (default: the host\'s), for TARGETPLATFORM and the other predefined ARGs' -r
complete -c dockerfile-parse -l dockerignore -d 'A .dockerignore file whose rules go into the plan' -r -F
complete -c dockerfile-parse -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dockerfile-parse -s V -l version -d 'Print version'
