/*
 * gpio_smoke: proves the check-vm machinery before any wicket code runs.
 *
 *   gpio_smoke [CHIP SYSFS_DIR]
 *
 * CHIP is the gpio-sim chip ("gpiochip0"), SYSFS_DIR its device directory
 * in sysfs (/sys/devices/platform/gpio-sim.0/gpiochip0); without
 * arguments they come from WICKET_GPIO_CHIP and WICKET_GPIO_SYSFS, as for
 * the plugins' test programs (tests/vm/init sets them).  gpio-sim
 * has one sim_gpioN directory per line: `value` is the level the chip sees
 * (an output's as driven by the consumer), `pull` drives an input from
 * outside as a pull-up or pull-down would.
 *
 * It talks to libgpiod 1.6 directly, not through plugins/gpio, so that a
 * failure here points at the VM, the kernel module or the chip setup and
 * not at our code: line 0 as an output must show in sysfs as driven, and
 * line 1 as an input must report the edges that writing its `pull` makes,
 * with the level read back.  One line per check on stdout ("ok ..." or
 * "FAIL ..."); the exit status is 0 only when all passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gpiod.h>

#define OUT_LINE 0
#define IN_LINE 1
#define CONSUMER "wicket-smoke"

static int n_failed;

static void check(int ok, const char *what, const char *detail)
{
	if (!ok)
		n_failed++;
	printf("%s %s%s%s\n", ok ? "ok" : "FAIL", what,
	       detail[0] ? ": " : "", detail);
	fflush(stdout);
}

/* The first line of SYSFS/sim_gpioLINE/NAME into out: 0 or -errno. */
static int sim_read(const char *sysfs, unsigned line, const char *name,
		    char *out, size_t outlen)
{
	char path[512];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/sim_gpio%u/%s", sysfs, line, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, out, outlen - 1);
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static int sim_write(const char *sysfs, unsigned line, const char *name,
		     const char *val)
{
	char path[512];
	size_t len = strlen(val);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/sim_gpio%u/%s", sysfs, line, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0 || (size_t)n != len) {
		int e = n < 0 ? -errno : -EIO;

		close(fd);
		return e;
	}
	return close(fd) < 0 ? -errno : 0;
}

static void check_sysfs_value(const char *sysfs, unsigned line,
			      const char *want, const char *what)
{
	char got[32], detail[128];
	int rc = sim_read(sysfs, line, "value", got, sizeof(got));

	if (rc < 0)
		snprintf(detail, sizeof(detail), "sim_gpio%u/value: %s", line,
			 strerror(-rc));
	else
		snprintf(detail, sizeof(detail), "sim_gpio%u/value is %s, want %s",
			 line, got, want);
	check(rc == 0 && strcmp(got, want) == 0, what, detail);
}

/* Write PULL to the input's pull file and expect one edge of type WANT
 * within a second, then the level LEVEL read back through the line. */
static void check_edge(struct gpiod_line *in, const char *sysfs,
		       const char *pull, int want, int level, const char *what)
{
	struct timespec tmo = { .tv_sec = 1, .tv_nsec = 0 };
	struct gpiod_line_event ev;
	char detail[160];
	int rc, v;

	rc = sim_write(sysfs, IN_LINE, "pull", pull);
	if (rc < 0) {
		snprintf(detail, sizeof(detail), "writing %s to sim_gpio%u/pull: %s",
			 pull, IN_LINE, strerror(-rc));
		check(0, what, detail);
		return;
	}
	rc = gpiod_line_event_wait(in, &tmo);
	if (rc <= 0) {
		snprintf(detail, sizeof(detail), "no edge within 1 s after %s%s%s",
			 pull, rc < 0 ? ": " : "", rc < 0 ? strerror(errno) : "");
		check(0, what, detail);
		return;
	}
	if (gpiod_line_event_read(in, &ev) < 0) {
		snprintf(detail, sizeof(detail), "reading the event: %s",
			 strerror(errno));
		check(0, what, detail);
		return;
	}
	v = gpiod_line_get_value(in);
	snprintf(detail, sizeof(detail), "event %s, level %d after %s",
		 ev.event_type == GPIOD_LINE_EVENT_RISING_EDGE ? "rising" : "falling",
		 v, pull);
	check(ev.event_type == want && v == level, what, detail);
}

int main(int argc, char **argv)
{
	const char *name = getenv("WICKET_GPIO_CHIP");
	const char *sysfs = getenv("WICKET_GPIO_SYSFS");
	struct gpiod_line *out, *in;
	struct gpiod_chip *chip;
	char detail[160];

	if (argc == 3) {
		name = argv[1];
		sysfs = argv[2];
	}
	if ((argc != 1 && argc != 3) || name == NULL || sysfs == NULL) {
		fprintf(stderr, "usage: gpio_smoke CHIP SYSFS_DIR\n"
			"  (or WICKET_GPIO_CHIP and WICKET_GPIO_SYSFS set)\n");
		return 2;
	}
	chip = gpiod_chip_open_lookup(name);
	if (chip == NULL) {
		snprintf(detail, sizeof(detail), "%s: %s", name, strerror(errno));
		check(0, "open chip", detail);
		return 1;
	}
	snprintf(detail, sizeof(detail), "%s, %u lines, label %s",
		 gpiod_chip_name(chip), gpiod_chip_num_lines(chip),
		 gpiod_chip_label(chip));
	check(1, "open chip", detail);

	out = gpiod_chip_get_line(chip, OUT_LINE);
	in = gpiod_chip_get_line(chip, IN_LINE);
	if (out == NULL || in == NULL) {
		check(0, "get lines 0 and 1", strerror(errno));
		gpiod_chip_close(chip);
		return 1;
	}

	if (gpiod_line_request_output(out, CONSUMER, 1) < 0) {
		check(0, "request output", strerror(errno));
	} else {
		check_sysfs_value(sysfs, OUT_LINE, "1", "output driven high");
		if (gpiod_line_set_value(out, 0) < 0)
			check(0, "output set low", strerror(errno));
		else
			check_sysfs_value(sysfs, OUT_LINE, "0", "output driven low");
	}

	if (gpiod_line_request_both_edges_events(in, CONSUMER) < 0) {
		check(0, "request input with edge events", strerror(errno));
	} else {
		check_edge(in, sysfs, "pull-up", GPIOD_LINE_EVENT_RISING_EDGE, 1,
			   "input pull-up gives a rising edge");
		check_edge(in, sysfs, "pull-down",
			   GPIOD_LINE_EVENT_FALLING_EDGE, 0,
			   "input pull-down gives a falling edge");
	}

	gpiod_chip_close(chip);
	printf("gpio_smoke: %d failed\n", n_failed);
	return n_failed ? 1 : 0;
}
