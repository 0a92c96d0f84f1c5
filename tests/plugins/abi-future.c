/* A plugin built for a future ABI major: wicketd must refuse to load it. */
#include <wicket/plugin.h>

const struct wk_plugin wicket_plugin = {
	.abi_major = WICKET_ABI_MAJOR + 1,
	.abi_minor = 3,
	.size = sizeof(struct wk_plugin),
	.name = "abi-future",
	.version = "0",
	.description = "test: wrong ABI major",
};
