/* The fair yield (see yield.h). */
#include "core/yield.h"

void
yield_event(struct event *ev, short res)
{
	event_active(ev, res, 1);
	/* Ends the current pass after this callback: the loop polls before ev runs again. */
	event_base_loopcontinue(event_get_base(ev));
}
