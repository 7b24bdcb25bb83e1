// SPDX-License-Identifier: MIT
/*
 * test_metrics.c - the stats document as the Prometheus text exposition
 * (ctl_metrics_text): names, types, labels and the escaping of label
 * values, both dialects, every field of a real switch's document
 * exported; the --metrics address parser; and the HTTP listener served by
 * a loop thread as in `pvnet switch`: 200, 404, 405, 400, content types by
 * Accept, a silent client that holds nobody, a crowd past the limit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../src/ctl/ctl_internal.h"
#include "pvnet/dp.h"
#include "pvnet/drop.h"
#include "pvnet/port.h"

/* A document with every kind of field, and a port name that needs escaping. */
static const char doc_text[] =
	"{\"mode\": \"direct\", \"copy\": \"single\", \"fdb_entries\": 2,"
	" \"fdb_learned\": 0, \"fdb_full\": 0, \"fdb_refused\": 0, \"mac_limit\": 256,"
	" \"tsc_hz\": 2000000000,"
	" \"ctl\": {\"accepted\": 3, \"refused\": 0, \"timed_out\": 1},"
	" \"metrics_http\": {\"port\": 9464, \"accepted\": 1, \"requests\": 1,"
	"   \"scrapes\": 1, \"bad_requests\": 0, \"refused\": 0, \"timed_out\": 0},"
	" \"ports\": ["
	"  {\"name\": \"vm1\", \"type\": \"vhost\", \"mac\": \"02:00:00:00:00:01\","
	"   \"rx_pkts\": 5, \"rx_bytes\": 500, \"tx_pkts\": 7, \"tx_bytes\": 700,"
	"   \"tx_csum_done\": 0, \"tx_gso_pkts\": 0, \"segmented\": 0, \"merged\": 2,"
	"   \"replicated\": 0, \"mac_refused\": 0, \"mac_learned\": 0, \"dropped\": 3,"
	"   \"drops\": {\"rx_no_buf\": 3},"
	"   \"rxq_pkts\": [4, 1, 0], \"txq_pkts\": [7, 0, 0], \"rxq_kicks\": [2, 0, 0],"
	"   \"txq_irqs\": [1, 0, 0], \"irq_blocked\": 0, \"mac_moves\": 1, \"announces\": 2,"
	"   \"vhost\": {\"connected\": true, \"features\": \"0x140000000\","
	"     \"msgs\": 20, \"connects\": 1, \"disconnects\": 0,"
	"     \"faults\": {\"vhu_msg_size\": 1}, \"mem_faults\": 0, \"mem_faulted\": false,"
	"     \"log_bytes\": 4096, \"logging\": true, \"log_bases\": 1, \"rarps\": 1,"
	"     \"mtu\": 1450, \"mtu_refused\": 2,"
	"     \"requests\": {\"SET_MEM_TABLE\": 1, \"GET_FEATURES\": 2},"
	"     \"vrings\": [{\"vring\": 0, \"dir\": \"rx\", \"state\": \"running\","
	"        \"size\": 256, \"pkts\": 7, \"kicks\": 0, \"calls\": 1,"
	"        \"calls_suppressed\": 6, \"drops\": {}},"
	"       {\"vring\": 1, \"dir\": \"tx\", \"state\": \"broken\","
	"        \"broken_reason\": \"ring_loop\", \"size\": 256, \"pkts\": 5,"
	"        \"kicks\": 2, \"calls\": 0, \"calls_suppressed\": 0,"
	"        \"drops\": {\"ring_loop\": 1}}]}},"
	"  {\"name\": \"we\\\"ird\\\\na\\nme\", \"type\": \"afpacket\","
	"   \"rx_pkts\": 1, \"rx_bytes\": 60, \"tx_pkts\": 0, \"tx_bytes\": 0,"
	"   \"tx_csum_done\": 0, \"tx_gso_pkts\": 0, \"segmented\": 0, \"merged\": 0,"
	"   \"replicated\": 0, \"mac_refused\": 0, \"mac_learned\": 0, \"dropped\": 0,"
	"   \"drops\": {}, \"rxq_pkts\": [1], \"txq_pkts\": [0], \"rxq_kicks\": [0],"
	"   \"txq_irqs\": [0], \"irq_blocked\": 0, \"sock_errors\": 1,"
	"   \"last_sock_error\": \"Network is down\", \"gen_cycles\": 0,"
	"   \"vlans\": {\"red\": 10, \"blue\": 20}, \"untagged_drop\": true}],"
	" \"workers\": [{\"queues\": 3, \"pkts\": 12, \"loops\": 100, \"busy_loops\": 4,"
	"   \"sleeps\": 2, \"guard_breaks\": 0, \"busy_cycles\": 24000,"
	"   \"total_cycles\": 1000000, \"cycles_per_pkt\": 2000.5,"
	"   \"stage_cycles\": {\"rx\": 1, \"classify\": 2, \"deliver\": 3, \"notify\": 4},"
	"   \"stage_cycles_per_pkt\": {\"rx\": 0.5, \"classify\": 0.25, \"deliver\": 1,"
	"     \"notify\": 0},"
	"   \"gro\": {\"held\": 0, \"in_segs\": 10, \"out_pkts\": 4, \"out_merged\": 2,"
	"     \"not_eligible\": 1, \"flush_policy\": 1, \"flush_timeout\": 2,"
	"     \"flush_flags\": 3, \"flush_full\": 4, \"csum_bad\": 0, \"agg\": 2.5}}]}";

static json_t *doc(void)
{
	json_error_t e;
	json_t *j = json_loads(doc_text, 0, &e);

	if (!j)
		fail_msg("test document: %s at %d", e.text, e.position);
	return j;
}

static bool name_ok(const char *s, size_t n)
{
	if (!n || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
		    s[0] == '_' || s[0] == ':'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == ':'))
			return false;
	return true;
}

/*
 * Checks the whole exposition as a strict reader would: every line a
 * comment or a sample; names and label names valid; label values quoted
 * with only \\, \" and \n escapes; one HELP and one TYPE per family, before
 * its samples, which are contiguous; counter samples end in _total; the
 * family names a counter with _total in 0.0.4, without it in OpenMetrics;
 * "# EOF" last. Returns the number of samples.
 */
static unsigned check_exposition(const char *text, bool om)
{
	char fam[128] = "", type[16] = "";
	char seen[512][128];
	unsigned nseen = 0, samples = 0;
	const char *l = text;

	while (*l) {
		const char *eol = strchr(l, '\n');
		size_t n;

		assert_non_null(eol);	/* every line ends with a newline */
		n = (size_t)(eol - l);
		if (!strncmp(l, "# EOF", 5)) {
			assert_int_equal(n, 5);
			assert_int_equal(eol[1], '\0');	/* the last line */
			return samples;
		}
		if (!strncmp(l, "# HELP ", 7)) {
			const char *sp = memchr(l + 7, ' ', n - 7);

			assert_non_null(sp);
			assert_true(name_ok(l + 7, (size_t)(sp - l - 7)));
			snprintf(fam, sizeof(fam), "%.*s", (int)(sp - l - 7), l + 7);
			for (unsigned i = 0; i < nseen; i++)
				if (!strcmp(seen[i], fam))
					fail_msg("family %s twice", fam);
			assert_true(nseen < 512);
			strcpy(seen[nseen++], fam);
			type[0] = '\0';
		} else if (!strncmp(l, "# TYPE ", 7)) {
			size_t fl = strlen(fam);

			assert_true(!strncmp(l + 7, fam, fl) && l[7 + fl] == ' ');
			snprintf(type, sizeof(type), "%.*s", (int)(n - 8 - fl),
				 l + 8 + fl);
			assert_true(!strcmp(type, "counter") || !strcmp(type, "gauge") ||
				    (om && !strcmp(type, "info")));
			/* 0.0.4: info metrics are gauges named _info */
			if (!om && fl > 5 && !strcmp(fam + fl - 5, "_info"))
				assert_string_equal(type, "gauge");
			if (!strcmp(type, "counter"))
				assert_true(om == (fl < 6 || strcmp(fam + fl - 6, "_total")));
		} else {
			const char *p = l, *end;
			size_t nl = strcspn(l, "{ ");
			char want[160];

			assert_true(l[0] != '#');
			assert_true(type[0]);	/* a sample after its TYPE */
			snprintf(want, sizeof(want), "%s%s", fam,
				 !om ? "" : !strcmp(type, "counter") ? "_total" :
				 !strcmp(type, "info") ? "_info" : "");
			if (strlen(want) != nl || strncmp(l, want, nl))
				fail_msg("sample %.*s outside its family %s", (int)n, l, fam);
			if (!strcmp(type, "counter"))
				assert_true(nl > 6 && !strncmp(l + nl - 6, "_total", 6));
			p = l + nl;
			if (*p == '{') {
				p++;
				while (*p != '}') {
					size_t ln = strcspn(p, "=");

					assert_true(name_ok(p, ln));
					p += ln;
					assert_int_equal(p[0], '=');
					assert_int_equal(p[1], '"');
					p += 2;
					while (*p != '"') {
						assert_true(*p != '\n' && *p != '\0');
						if (*p == '\\') {
							assert_non_null(strchr("\\\"n", p[1]));
							p++;
						}
						p++;
					}
					p++;
					if (*p == ',')
						p++;
				}
				p++;
			}
			assert_int_equal(*p, ' ');
			strtod(p + 1, (char **)&end);
			assert_true(end == eol && end > p + 1);
			samples++;
		}
		l = eol + 1;
	}
	fail_msg("no # EOF");
	return 0;
}

static void exposition_is_valid_in_both_dialects(void **state)
{
	json_t *j = doc();

	(void)state;
	for (int om = 0; om <= 1; om++) {
		size_t len;
		char *t = ctl_metrics_text(j, om, &len);

		assert_non_null(t);
		assert_int_equal(strlen(t), len);
		assert_true(check_exposition(t, om) > 100);
		free(t);
	}
	json_decref(j);
}

static bool has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

#define assert_line(t, l) \
	do { if (!has_line(t, l)) fail_msg("missing line: %s", l); } while (0)

static void names_labels_and_values(void **state)
{
	json_t *j = doc();
	char *t = ctl_metrics_text(j, false, NULL);

	(void)state;
	assert_non_null(t);
	assert_line(t, "# TYPE pvnet_port_rx_packets_total counter");
	assert_line(t, "pvnet_port_rx_packets_total{network=\"default\",port=\"vm1\"} 5");
	assert_line(t, "pvnet_port_tx_bytes_total{network=\"default\",port=\"vm1\"} 700");
	assert_line(t, "# TYPE pvnet_port_mac_learned gauge");
	assert_line(t, "pvnet_port_info{network=\"default\",port=\"vm1\",type=\"vhost\",mac=\"02:00:00:00:00:01\"} 1");
	assert_line(t, "pvnet_switch_info{network=\"default\",mode=\"direct\",copy=\"single\"} 1");
	assert_line(t, "pvnet_fdb_entries{network=\"default\"} 2");
	assert_line(t, "pvnet_tsc_hz 2000000000");
	/* drops by reason: every reason for a port, zeros included */
	assert_line(t, "pvnet_port_drops_total{network=\"default\",port=\"vm1\",reason=\"rx_no_buf\"} 3");
	assert_line(t, "pvnet_port_drops_total{network=\"default\",port=\"vm1\",reason=\"tx_loop\"} 0");
	{
		unsigned n = 0;

		for (const char *p = strstr(t, "\npvnet_port_drops_total{network=\"default\",port=\"vm1\",");
		     p; p = strstr(p + 1, "\npvnet_port_drops_total{network=\"default\",port=\"vm1\","))
			n++;
		assert_int_equal(n, PV_DROP_MAX - 1);
	}
	/* queues: one that moved appears, one that never did does not */
	assert_line(t, "pvnet_port_queue_rx_packets_total{network=\"default\",port=\"vm1\",queue=\"1\"} 1");
	assert_line(t, "pvnet_port_queue_tx_interrupts_total{network=\"default\",port=\"vm1\",queue=\"0\"} 1");
	assert_null(strstr(t, "port=\"vm1\",queue=\"2\""));
	/* vhost-user and vrings */
	assert_line(t, "pvnet_vhost_connected{network=\"default\",port=\"vm1\"} 1");
	assert_line(t, "pvnet_vhost_mem_faulted{network=\"default\",port=\"vm1\"} 0");
	assert_line(t, "pvnet_vhost_logging{network=\"default\",port=\"vm1\"} 1");
	assert_line(t, "pvnet_vhost_log_bytes{network=\"default\",port=\"vm1\"} 4096");
	assert_line(t, "pvnet_port_announces_total{network=\"default\",port=\"vm1\"} 2");
	assert_line(t, "pvnet_vhost_info{network=\"default\",port=\"vm1\",features=\"0x140000000\"} 1");
	assert_line(t, "pvnet_vhost_requests_total{network=\"default\",port=\"vm1\",request=\"GET_FEATURES\"} 2");
	assert_line(t, "pvnet_vhost_faults_total{network=\"default\",port=\"vm1\",reason=\"vhu_msg_size\"} 1");
	assert_line(t, "pvnet_vring_state{network=\"default\",port=\"vm1\",vring=\"1\",dir=\"tx\",state=\"broken\"} 1");
	assert_line(t, "pvnet_vring_state{network=\"default\",port=\"vm1\",vring=\"1\",dir=\"tx\",state=\"running\"} 0");
	assert_line(t, "pvnet_vring_broken_reason_info{network=\"default\",port=\"vm1\",vring=\"1\",dir=\"tx\",reason=\"ring_loop\"} 1");
	assert_line(t, "pvnet_vring_drops_total{network=\"default\",port=\"vm1\",vring=\"1\",dir=\"tx\",reason=\"ring_loop\"} 1");
	assert_line(t, "pvnet_vring_calls_suppressed_total{network=\"default\",port=\"vm1\",vring=\"0\",dir=\"rx\"} 6");
	/* workers, stages, GRO */
	assert_line(t, "pvnet_worker_busy_cycles_total{worker=\"0\"} 24000");
	assert_line(t, "pvnet_worker_cycles_total{worker=\"0\"} 1000000");
	assert_line(t, "pvnet_worker_cycles_per_packet{worker=\"0\"} 2000.5");
	assert_line(t, "pvnet_worker_stage_cycles_total{worker=\"0\",stage=\"deliver\"} 3");
	assert_line(t, "pvnet_gro_flushes_total{worker=\"0\",cause=\"flags\"} 3");
	assert_line(t, "pvnet_gro_aggregation{worker=\"0\"} 2.5");
	/* the servers' own counters */
	assert_line(t, "pvnet_ctl_clients_timed_out_total 1");
	assert_line(t, "pvnet_metrics_http_scrapes_total 1");
	/* afpacket fields; an absent field is no sample (gen_cycles is here) */
	assert_line(t, "pvnet_port_last_sock_error_info{network=\"default\",port=\"we\\\"ird\\\\na\\nme\",error=\"Network is down\"} 1");
	assert_null(strstr(t, "pvnet_port_sock_errors_total{network=\"default\",port=\"vm1\"}"));
	assert_non_null(strstr(t, "# EOF\n"));
	free(t);
	json_decref(j);
}

/* \, " and a newline in a label value come out as \\, \" and \n. */
static void label_values_are_escaped(void **state)
{
	json_t *j = doc();
	char *t = ctl_metrics_text(j, false, NULL);

	(void)state;
	assert_line(t, "pvnet_port_rx_packets_total{network=\"default\",port=\"we\\\"ird\\\\na\\nme\"} 1");
	assert_line(t, "pvnet_port_sock_errors_total{network=\"default\",port=\"we\\\"ird\\\\na\\nme\"} 1");
	/* a trunk's VLANs: one sample per network it carries tagged */
	assert_line(t, "pvnet_port_vlan{network=\"default\",port=\"we\\\"ird\\\\na\\nme\",vlan_network=\"blue\"} 20");
	assert_line(t, "pvnet_port_untagged_drop{network=\"default\",port=\"we\\\"ird\\\\na\\nme\"} 1");
	assert_null(strstr(t, "pvnet_port_vlan{network=\"default\",port=\"vm1\""));
	free(t);
	json_decref(j);
}

static void openmetrics_names_families_without_total(void **state)
{
	json_t *j = doc();
	char *t = ctl_metrics_text(j, true, NULL);

	(void)state;
	assert_line(t, "# TYPE pvnet_port_rx_packets counter");
	assert_line(t, "# HELP pvnet_port_rx_packets Packets that entered the switch from the port.");
	assert_line(t, "pvnet_port_rx_packets_total{network=\"default\",port=\"vm1\"} 5");
	assert_line(t, "# TYPE pvnet_port_mac_learned gauge");
	assert_null(strstr(t, "# TYPE pvnet_port_rx_packets_total"));
	/* info families: type info, named without _info, samples with it */
	assert_line(t, "# TYPE pvnet_port info");
	assert_line(t, "pvnet_port_info{network=\"default\",port=\"vm1\",type=\"vhost\",mac=\"02:00:00:00:00:01\"} 1");
	assert_line(t, "# TYPE pvnet_vring_broken_reason info");
	free(t);
	json_decref(j);
}

/* A family no object has (no vhost port, no workers) is left out whole. */
static void empty_families_are_left_out(void **state)
{
	json_t *j = json_loads("{\"mode\": \"learn\", \"copy\": \"double\", \"ports\": []}",
			       0, NULL);
	char *t = ctl_metrics_text(j, false, NULL);

	(void)state;
	assert_non_null(t);
	check_exposition(t, false);
	assert_null(strstr(t, "vhost"));
	assert_null(strstr(t, "worker"));
	assert_line(t, "pvnet_switch_info{network=\"default\",mode=\"learn\",copy=\"double\"} 1");
	free(t);
	json_decref(j);
}

/* Every number or boolean of @j sits under an exported key. */
static void check_covered(json_t *j, const char *key, const char *parent)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, k, v)
			check_covered(v, k, key);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			check_covered(v, key, parent);
	} else if (json_is_number(j) || json_is_boolean(j) || json_is_string(j)) {
		/* a leaf counts through its own key, or its map's (drops) */
		if (!(key && ctl_metrics_key_exported(key)) &&
		    !(parent && ctl_metrics_key_exported(parent)))
			fail_msg("stats field %s.%s is not exported", parent ?: "",
				 key ?: "");
	}
}

static void synthetic_document_is_covered(void **state)
{
	json_t *j = doc();

	(void)state;
	check_covered(j, NULL, NULL);
	json_decref(j);
}

/*
 * A real switch's document (gen ports moving packets through two workers
 * with GRO, the control socket): every field is exported, and the output
 * is valid.
 */
static void real_document_is_covered(void **state)
{
	struct dp_cfg cfg = { .workers = 2, .notify = DP_NOTIFY_ADAPTIVE,
			      .budget = 64, .idle_us = 50 };
	static const char *const specs[] = {
		"gen,name=g1,dst=02:00:00:00:77:02,src=02:00:00:00:77:01,count=500",
		"gen,name=g2,dst=02:00:00:00:77:01,src=02:00:00:00:77:02,count=300",
		/*
		 * alone in its network: its unknown unicast goes to its
		 * network's uplink, itself (tx_loop), never to g1
		 */
		("gen,name=g3,dst=02:00:00:00:77:99,src=02:00:00:00:77:03,"
		 "count=100,network=other"),
	};
	char err[256], path[64], vspec[160];
	struct sw *sw = sw_create(SW_MODE_DIRECT, 300);
	struct port *vxp;
	struct ctl_server *cs;
	struct dp *dp;
	json_t *j;
	char *t;

	(void)state;
	assert_non_null(sw);
	for (unsigned i = 0; i < 3; i++) {
		struct port *p = port_create(sw, specs[i], err, sizeof(err));

		if (!p)
			fail_msg("%s: %s", specs[i], err);
		assert_int_equal(sw_port_add(sw, p), 0);
	}
	/*
	 * a vxlan port: its "vxlan" object must be exported too (per VNI);
	 * in a network of its own, so the others' counts stay as they are
	 */
	snprintf(vspec, sizeof(vspec), "vxlan,name=vx,vni=4242,local=127.0.0.1,"
		 "remote=127.0.0.2,mtu=1500,dstport=%d,network=ov",
		 40000 + getpid() % 20000);
	vxp = port_create(sw, vspec, err, sizeof(err));
	if (!vxp)
		fail_msg("%s: %s", vspec, err);
	assert_int_equal(sw_port_add(sw, vxp), 0);
	assert_int_equal(gro_cfg_parse("adaptive", &cfg.gro), 0);
	dp = dp_create(sw, &cfg);
	assert_non_null(dp);
	snprintf(path, sizeof(path), "/tmp/pvnet-test-metrics.%d", getpid());
	cs = ctl_server_create(path, sw);
	assert_non_null(cs);
	assert_int_equal(dp_start(dp), 0);
	for (int i = 0; i < 500; i++) {
		json_int_t n;

		json_int_t m;

		j = ctl_stats_json(sw);
		n = json_integer_value(json_object_get(json_array_get(
			json_object_get(j, "ports"), 0), "rx_pkts"));
		m = json_integer_value(json_object_get(json_object_get(json_object_get(
			j, "networks"), "other"), "rx_pkts"));
		json_decref(j);
		if (n == 500 && m == 100)
			break;
		usleep(10000);
	}
	j = ctl_stats_json(sw);
	assert_non_null(json_object_get(j, "ctl"));
	assert_non_null(json_object_get(json_array_get(json_object_get(j, "workers"),
						       0), "gro"));
	check_covered(j, NULL, NULL);
	t = ctl_metrics_text(j, false, NULL);
	assert_non_null(t);
	check_exposition(t, false);
	assert_line(t, "pvnet_port_rx_packets_total{network=\"default\",port=\"g1\"} 500");
	assert_line(t, "pvnet_port_info{network=\"other\",port=\"g3\",type=\"gen\",mac=\"02:00:00:00:77:03\"} 1");
	assert_line(t, "pvnet_network_ports{network=\"other\"} 1");
	assert_line(t, "pvnet_network_ports{network=\"default\"} 2");
	assert_line(t, "pvnet_network_drops_total{network=\"other\",reason=\"tx_loop\"} 100");
	assert_line(t, "pvnet_network_rx_packets_total{network=\"other\"} 100");
	assert_non_null(strstr(t, "\npvnet_gro_segments_in_total{worker=\"1\"} "));
	assert_line(t, "pvnet_vxlan_info{network=\"ov\",port=\"vx\",vni=\"4242\",local=\"127.0.0.1\"} 1");
	assert_line(t, "pvnet_vxlan_remotes{network=\"ov\",port=\"vx\",vni=\"4242\"} 1");
	/* per VNI: the one VNI of a plain port, in the port's network */
	assert_line(t, "pvnet_vxlan_vni_remotes{network=\"ov\",port=\"vx\",vni=\"4242\",vni_network=\"ov\"} 1");
	assert_non_null(strstr(t, "\npvnet_vxlan_vni_tx_drops_total{network=\"ov\",port=\"vx\",vni=\"4242\",vni_network=\"ov\"} "));
	assert_line(t, "pvnet_vxlan_udp_gso{network=\"ov\",port=\"vx\",vni=\"4242\"} 1");
	assert_non_null(strstr(t, "\npvnet_vxlan_gso_fallbacks_total{network=\"ov\",port=\"vx\",vni=\"4242\"} 0\n"));
	free(t);
	json_decref(j);
	/* a deleted port's counts stay in its network's */
	assert_int_equal(sw_port_del(sw, sw_port_find(sw, "g3")), 0);
	j = ctl_stats_json(sw);
	t = ctl_metrics_text(j, false, NULL);
	assert_non_null(t);
	assert_line(t, "pvnet_network_ports{network=\"other\"} 0");
	assert_line(t, "pvnet_network_rx_packets_total{network=\"other\"} 100");
	assert_line(t, "pvnet_network_drops_total{network=\"other\",reason=\"tx_loop\"} 100");
	free(t);
	json_decref(j);
	ctl_server_destroy(cs);
	dp_destroy(dp);
	sw_destroy(sw);
}

static void addresses_parse(void **state)
{
	static const char *const bad[] = {
		"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
		"127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:80x", "localhost:80",
		"::1:9464", "[::1]9464", "[::1]:", "[::1", "[127.0.0.1]:80",
		"[]:80", ":80", "1.2.3:80", "[::1]:99999",
	};
	struct sockaddr_storage ss;
	unsigned len;

	(void)state;
	assert_int_equal(ctl_metrics_parse_addr("127.0.0.1:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(len, sizeof(struct sockaddr_in));
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9464);
	assert_int_equal(ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr),
			 0x7f000001);
	assert_int_equal(ctl_metrics_parse_addr("0.0.0.0:0", &ss, &len), 0);
	assert_int_equal(ctl_metrics_parse_addr("[::1]:9464", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 9464);
	assert_true(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&ss)->sin6_addr));
	assert_int_equal(ctl_metrics_parse_addr("[fd00::1]:65535", &ss, &len), 0);
	assert_int_equal(ctl_metrics_parse_addr("[::]:1", &ss, &len), 0);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ctl_metrics_parse_addr(bad[i], &ss, &len) != -EINVAL)
			fail_msg("'%s' was accepted", bad[i]);
}

/* The HTTP listener, served by a loop thread as in `pvnet switch`. */
#define WAIT_MS		10000
#define MAX_FDS		(CTL_METRICS_MAX_CLIENTS + 4)

struct mh_fx {
	struct sw *sw;
	struct ctl_metrics *m;
	pthread_t thr;
	atomic_bool stop;
	unsigned port;
	int fds[MAX_FDS];
};

static void *loop_thread(void *arg)
{
	struct mh_fx *fx = arg;

	while (!atomic_load(&fx->stop))
		pv_loop_run_once(fx->sw->loop, 20);
	return NULL;
}

static int mh_setup(void **state)
{
	struct mh_fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	for (unsigned i = 0; i < MAX_FDS; i++)
		fx->fds[i] = -1;
	fx->sw = sw_create(SW_MODE_DIRECT, 300);
	assert_non_null(fx->sw);
	fx->m = ctl_metrics_create("127.0.0.1:0", fx->sw);
	assert_non_null(fx->m);
	fx->port = ctl_metrics_port(fx->m);
	assert_true(fx->port > 0);
	assert_int_equal(pthread_create(&fx->thr, NULL, loop_thread, fx), 0);
	*state = fx;
	return 0;
}

static int mh_teardown(void **state)
{
	struct mh_fx *fx = *state;

	for (unsigned i = 0; i < MAX_FDS; i++)
		if (fx->fds[i] >= 0)
			close(fx->fds[i]);
	atomic_store(&fx->stop, true);
	pthread_join(fx->thr, NULL);
	ctl_metrics_destroy(fx->m);
	sw_destroy(fx->sw);
	free(fx);
	return 0;
}

static int connect_lo(unsigned port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(0x7f000001) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* A client the test holds open (closed by the teardown). */
static int mh_connect(struct mh_fx *fx)
{
	int fd = connect_lo(fx->port);

	for (unsigned i = 0; i < MAX_FDS; i++)
		if (fx->fds[i] < 0) {
			fx->fds[i] = fd;
			return fd;
		}
	fail_msg("too many client sockets");
	return -1;
}

/* Reads until EOF (bounded by WAIT_MS); returns the bytes (caller frees). */
static char *read_all(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, WAIT_MS) != 1)
			fail_msg("no reply within %d ms", WAIT_MS);
		if (len + 1 >= cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/* One request on its own connection; the whole reply (caller frees). */
static char *request(struct mh_fx *fx, const char *req)
{
	int fd = connect_lo(fx->port);
	char *r;

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	r = read_all(fd);
	close(fd);
	return r;
}

static void http_statuses(void **state)
{
	struct mh_fx *fx = *state;
	char *r;

	r = request(fx, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	assert_non_null(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	assert_non_null(strstr(r, "\r\n\r\n# HELP pvnet_switch_info "));
	{
		const char *body = strstr(r, "\r\n\r\n") + 4;
		char cl[64];

		snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(body));
		assert_non_null(strstr(r, cl));
		check_exposition(body, false);
		/* this scrape counts in its own output */
		assert_line(body, "pvnet_metrics_http_scrapes_total 1");
	}
	free(r);
	r = request(fx, "GET /metrics?x=1 HTTP/1.0\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n\r\n");
	assert_non_null(strstr(r, "\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"));
	check_exposition(strstr(r, "\r\n\r\n") + 4, true);
	free(r);
	r = request(fx, "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text; q=0, text/plain\r\n\r\n");
	assert_non_null(strstr(r, "\r\nContent-Type: text/plain; version=0.0.4"));
	free(r);
	r = request(fx, "HEAD /metrics HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	assert_int_equal(strstr(r, "\r\n\r\n")[4], '\0');
	free(r);
	r = request(fx, "GET / HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 404 ", 13));
	free(r);
	r = request(fx, "GET /metricsx HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 404 ", 13));
	free(r);
	r = request(fx, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	assert_true(!strncmp(r, "HTTP/1.1 405 ", 13));
	assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
	free(r);
	r = request(fx, "DELETE /metrics HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 405 ", 13));
	free(r);
	r = request(fx, "GET /metrics\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 400 ", 13));
	free(r);
	{
		/* a head longer than the limit: 400, not a wait for its end */
		char *big = malloc(CTL_METRICS_REQ_MAX + 64);

		assert_non_null(big);
		strcpy(big, "GET /metrics HTTP/1.1\r\nX: ");
		memset(big + strlen(big), 'a', CTL_METRICS_REQ_MAX);
		big[CTL_METRICS_REQ_MAX + 20] = '\0';
		r = request(fx, big);
		assert_true(!strncmp(r, "HTTP/1.1 400 ", 13));
		free(r);
		free(big);
	}
	r = request(fx, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_line(strstr(r, "\r\n\r\n") + 4, "pvnet_metrics_http_bad_requests_total 6");
	free(r);
}

/* A client that connects and sends nothing holds no one else. */
static void silent_client_holds_nobody(void **state)
{
	struct mh_fx *fx = *state;
	int silent = mh_connect(fx), half = mh_connect(fx);
	struct pollfd pfd = { .fd = silent, .events = POLLIN };
	char *r, c;

	/* and one that sends half a request line */
	assert_int_equal(write(half, "GET /met", 8), 8);
	r = request(fx, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_true(!strncmp(r, "HTTP/1.1 200 OK\r\n", 17));
	free(r);
	/* the silent one was still open while the other was served ... */
	assert_int_equal(poll(&pfd, 1, 0), 0);
	/* ... and both are closed at their deadlines */
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(silent, &c, 1), 0);
	pfd.fd = half;
	assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
	assert_int_equal(read(half, &c, 1), 0);
	r = request(fx, "GET /metrics HTTP/1.1\r\n\r\n");
	assert_line(strstr(r, "\r\n\r\n") + 4, "pvnet_metrics_http_clients_timed_out_total 2");
	free(r);
}

/* Past the client limit one more is closed at once; then all is served. */
static void clients_past_the_limit_are_refused(void **state)
{
	struct mh_fx *fx = *state;
	int fd;
	char c;

	for (unsigned i = 0; i < CTL_METRICS_MAX_CLIENTS; i++)
		mh_connect(fx);
	fd = mh_connect(fx);
	{
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, WAIT_MS), 1);
		assert_true(read(fd, &c, 1) <= 0);
	}
	for (unsigned i = 0; i < MAX_FDS; i++)
		if (fx->fds[i] >= 0) {
			close(fx->fds[i]);
			fx->fds[i] = -1;
		}
	/* closed clients free their slots as the loop sees them go */
	for (int i = 0; i < 100; i++) {
		char *r = request(fx, "GET /metrics HTTP/1.1\r\n\r\n");
		bool ok = !strncmp(r, "HTTP/1.1 200 OK\r\n", 17);

		/*
		 * At least the one refused: a request of this loop that came
		 * before the loop saw the crowd leave is refused too.
		 */
		if (ok) {
			const char *l = strstr(r, "\npvnet_metrics_http_clients_refused_total ");

			assert_non_null(l);
			assert_true(strtoull(l + strlen("\npvnet_metrics_http_clients_refused_total "),
					     NULL, 10) >= 1);
		}
		free(r);
		if (ok)
			return;
		usleep(20000);
	}
	fail_msg("not served after the crowd left");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(exposition_is_valid_in_both_dialects),
		cmocka_unit_test(names_labels_and_values),
		cmocka_unit_test(label_values_are_escaped),
		cmocka_unit_test(openmetrics_names_families_without_total),
		cmocka_unit_test(empty_families_are_left_out),
		cmocka_unit_test(synthetic_document_is_covered),
		cmocka_unit_test(real_document_is_covered),
		cmocka_unit_test(addresses_parse),
		cmocka_unit_test_setup_teardown(http_statuses, mh_setup, mh_teardown),
		cmocka_unit_test_setup_teardown(silent_client_holds_nobody,
						mh_setup, mh_teardown),
		cmocka_unit_test_setup_teardown(clients_past_the_limit_are_refused,
						mh_setup, mh_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
