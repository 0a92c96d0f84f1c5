/* libFuzzer: wicketd.conf parsing (inifile + config) on arbitrary bytes.
 * Must never crash, leak or read out of bounds, whatever the file holds. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct conf *c = NULL;
	FILE *f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/tmp/wicket-fuzz-config-%d.conf",
			 (int)getpid());
	f = fopen(path, "w");
	if (f == NULL)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	if (conf_load(path, &c, NULL, NULL) == 0)
		conf_free(c);
	return 0;
}
