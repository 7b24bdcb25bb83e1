// SPDX-License-Identifier: MIT
/* drop.c - names of the drop and error reasons */
#include "pvnet/drop.h"

static const char *const drop_names[PV_DROP_MAX] = {
#define PV_DROP_NAME(name, text) [PV_DROP_##name] = #name,
	PV_DROP_REASONS(PV_DROP_NAME)
#undef PV_DROP_NAME
};

static const char *const drop_texts[PV_DROP_MAX] = {
#define PV_DROP_TEXT(name, text) [PV_DROP_##name] = text,
	PV_DROP_REASONS(PV_DROP_TEXT)
#undef PV_DROP_TEXT
};

/*
 * Lower-case copies for stats keys, built before main() so that worker and
 * control threads only ever read them.
 */
static char drop_lower[PV_DROP_MAX][32];

__attribute__((constructor)) static void drop_names_init(void)
{
	for (unsigned r = 0; r < PV_DROP_MAX; r++) {
		const char *s = drop_names[r];
		unsigned i;

		for (i = 0; s[i] && i < sizeof(drop_lower[r]) - 1; i++)
			drop_lower[r][i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ?
						  s[i] - 'A' + 'a' : s[i]);
		drop_lower[r][i] = '\0';
	}
}

const char *pv_drop_name(enum pv_drop why)
{
	if ((unsigned)why >= PV_DROP_MAX)
		return "invalid";
	return drop_lower[why];
}

const char *pv_drop_text(enum pv_drop why)
{
	if ((unsigned)why >= PV_DROP_MAX)
		return "invalid reason";
	return drop_texts[why];
}
