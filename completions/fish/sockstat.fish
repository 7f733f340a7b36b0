complete -c sockstat -s f -d 'Limit listed sockets to this address family' -r -f -a "inet\t''
inet6\t''
local\t''
unix\t''"
complete -c sockstat -s p -d 'Only sockets whose local or foreign port is on this list (22,80,8000-8100)' -r
complete -c sockstat -s 4 -d 'Show AF_INET (IPv4) sockets'
complete -c sockstat -s 6 -d 'Show AF_INET6 (IPv6) sockets'
complete -c sockstat -s c -d 'Show connected sockets'
complete -c sockstat -s l -d 'Show listening sockets'
complete -c sockstat -s n -d 'Numeric output only: no names for addresses and ports'
complete -c sockstat -s u -d 'Show AF_LOCAL (UNIX) sockets'
complete -c sockstat -l json -d 'Print the sockets as JSON'
complete -c sockstat -s h -l help -d 'Print help (see more with \'--help\')'
