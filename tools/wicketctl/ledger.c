/* placeholder until the ledger commands land */
#include <stdio.h>
#include "ctl.h"
int ctl_ledger(const struct ctl_opts *o, int argc, char **argv)
{
	(void)o;
	(void)argc;
	(void)argv;
	fprintf(stderr, "wicketctl: ledger: not built yet\n");
	return CTL_FAIL;
}
