/* SPDX-License-Identifier: MIT */
/* ctl.h - subcommand entry points of the pvnet binary */
#ifndef PVNET_CTL_H
#define PVNET_CTL_H

/* Each runs one subcommand with argv[0] = its name; returns the exit code. */
int ctl_switch_main(int argc, char **argv);
int ctl_stats_main(int argc, char **argv);
int ctl_port_main(int argc, char **argv);
int ctl_top_main(int argc, char **argv);
int ctl_guest_main(int argc, char **argv);
int ctl_bench_main(int argc, char **argv);
int ctl_demo_main(int argc, char **argv);
/* `pvnet evpn`: the BGP EVPN agent for a vxlan port (evpn.c). */
int ctl_evpn_main(int argc, char **argv);

#endif /* PVNET_CTL_H */
