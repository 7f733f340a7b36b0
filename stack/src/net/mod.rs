//! Layer 2 and interfaces: ifnet, Ethernet, ARP, the routing socket, interface control.

pub mod arp;
pub mod ether;
pub mod if_control;
pub mod ifnet;
pub mod route;
pub mod route_socket;
