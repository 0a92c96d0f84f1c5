/* libFuzzer: wicket-sim's scenario parser on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../../tools/wicket-sim/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct scn_dev devs[] = {
		{ "thermal1", SIM_THERMAL },
		{ "reader1", SIM_READER },
		{ "gate1", SIM_GATE },
		{ "kit1", SIM_KIT },
		{ "scanner1", SIM_SCANNER },
	};
	struct scn_env env = { .devs = devs,
			       .n_devs = sizeof(devs) / sizeof(devs[0]) };
	struct scenario *s = NULL;
	int n = 0;
	FILE *f;

	if (size == 0)
		return 0;
	f = fmemopen((void *)data, size, "r");
	if (f == NULL)
		return 0;
	if (scn_read(f, "fuzz", &env, &s, &n) == 0)
		scn_free(s);
	fclose(f);
	return 0;
}
