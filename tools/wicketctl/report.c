/* placeholder until the report command land */
#include <stdio.h>
#include "ctl.h"
int ctl_report(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	fprintf(stderr, "wicketctl: report: not built yet\n");
	return CTL_FAIL;
}
