/*
 * pattern: what the green light, the red light and the buzzer show for
 * each indication (WK_IND_*), as a pure function of the time since the
 * indication started.  The gpio plugin asks it at each step and sets its
 * lines; docs/wiring.md shows the same table to installers.
 *
 *   ALLOW   green 2 s, one 100 ms beep
 *   DENY    red 2 s, three 100 ms beeps 100 ms apart
 *   RETEST  red blinking 250 ms on / 250 ms off for 3 s, two 250 ms beeps
 *           250 ms apart
 *   ALARM   red and buzzer together blinking 150 / 150 ms for 10 s
 *   OFF     everything off
 *
 * Every pattern ends with everything off.
 */
#ifndef WICKET_PATTERN_H
#define WICKET_PATTERN_H

#include <stdint.h>

#define PAT_GREEN 0x1u
#define PAT_RED 0x2u
#define PAT_BUZZER 0x4u

/* Is ind (an enum wk_indication value) known?  1 or 0. */
int pat_known(uint32_t ind);
/* The outputs (PAT_* bits) of indication ind at t_ms after its start, and
 * in *next_ms the first time after t_ms at which they change, or -1 when
 * they never change again (the pattern is over).  An unknown ind is OFF. */
unsigned pat_at(uint32_t ind, int64_t t_ms, int64_t *next_ms);
/* Its length in ms: from then on everything is off (0 for OFF). */
int64_t pat_length(uint32_t ind);

#endif
