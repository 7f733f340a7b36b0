complete -c brconfig -s a -d 'Show the status of every bridge'
complete -c brconfig -l json -d 'Print the status as JSON'
complete -c brconfig -s h -l help -d 'Print help (see more with \'--help\')'
