// SPDX-License-Identifier: MIT
/* test_ctl.c - the JSON configuration file becomes the same options */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../src/ctl/ctl_internal.h"

static char *write_tmp(const char *text)
{
	static char path[64];
	int fd;

	strcpy(path, "/tmp/pvnet-test-cfg.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static void free_argv(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	free(argv);
}

static void config_to_options(void **state)
{
	char *p = write_tmp(
		"{\"ctl\": \"/run/x.ctl\", \"workers\": 2, \"gro_linearize\": true,"
		" \"copy\": \"double\", \"ports\": [{\"type\": \"vhost\", \"name\": \"a\","
		" \"path\": \"/run/a.sock\", \"queues\": 2, \"client\": true},"
		" \"tap,name=up,ifname=t0\"]}");
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(argc, 12);
	assert_string_equal(argv[0], "switch");
	assert_string_equal(argv[1], "--ctl");
	assert_string_equal(argv[2], "/run/x.ctl");
	assert_string_equal(argv[3], "--workers");
	assert_string_equal(argv[4], "2");
	assert_string_equal(argv[5], "--gro-linearize");
	assert_string_equal(argv[6], "--copy");
	assert_string_equal(argv[7], "double");
	assert_string_equal(argv[8], "--port");
	assert_string_equal(argv[9], "vhost,name=a,path=/run/a.sock,queues=2,client");
	assert_string_equal(argv[11], "tap,name=up,ifname=t0");
	assert_null(argv[12]);
	free_argv(argc, argv);
}

static void config_mac_limit(void **state)
{
	char *p = write_tmp("{\"mode\": \"learn\", \"mac_limit\": 512}");
	char err[256] = "", **argv = NULL;
	int argc = 0;

	(void)state;
	assert_int_equal(ctl_config_argv(p, &argc, &argv, err, sizeof(err)), 0);
	unlink(p);
	assert_int_equal(argc, 5);
	assert_string_equal(argv[3], "--mac-limit");
	assert_string_equal(argv[4], "512");
	free_argv(argc, argv);
}

static void config_errors_are_clear(void **state)
{
	static const char *const bad[] = {
		"{\"bogus\": 1}", "[1, 2]", "{\"ports\": [", "{\"workers\": [1]}",
		"{\"ports\": [{\"name\": \"a\"}]}", "{\"ports\": {}}",
		"{\"ctl\": \"a\", \"ctl\": \"b\"}",
	};
	char err[256], **argv = NULL;
	int argc = 0;

	(void)state;
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *p = write_tmp(bad[i]);

		err[0] = '\0';
		assert_int_not_equal(ctl_config_argv(p, &argc, &argv, err,
						     sizeof(err)), 0);
		assert_true(strlen(err) > 0);
		unlink(p);
	}
	assert_int_not_equal(ctl_config_argv("/nonexistent/pvnet.json", &argc,
					     &argv, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(config_to_options),
		cmocka_unit_test(config_errors_are_clear),
		cmocka_unit_test(config_mac_limit),
	};

	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
