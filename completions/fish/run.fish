complete -c run -s s -d 'The stack\'s prefix (sets SOCK)' -r
complete -c run -s h -l help -d 'Print help (see more with \'--help\')'
