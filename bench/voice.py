"""Calls per second through ccari against Asterisk's own queue and a plain dialplan: one
Asterisk, one run, every system driven to saturation.

What is measured
----------------
Three systems answer the same SIPp carrier caller (tests/sipp/bench_caller.xml) on
Asterisk 22, one after the other, each on an Asterisk started afresh from the same
configuration (measured on the one process after the others' ramps, the last system paid for
what they left behind):

1. **ccari**: Stasis -> ccari's IVR (prompt ``ccari/welcome``, digit 1) -> ccari's queue ->
   skill match -> ARI dials the agent's phone (a SIPp UAS) -> bridged.
2. **queue**: the same caller path built on app_queue: ``Answer(,i)``,
   ``Background(ccari/welcome)`` and ``WaitExten(5)``, digit 1 -> ``Queue(bench)`` with the
   same agent phones as static members (``PJSIP/<phone>``, rrmemory, ringinuse=no, no
   wrap-up, music on hold).  The bench writes queues.conf into its own instance's etc/ and
   loads app_queue for this system only (ccari's rendered modules.conf does not load it).
3. **dialplan**: ``Answer(,i)``, ``Wait(hold)``, ``Hangup()``.

(``i``: answer at once.  A plain ``Answer()`` waits up to 500 ms for the caller's first voice
frame, and SIPp's callers send none; ccari's ARI answer does not wait either.)

The agent phones answer at once and hang up after ``--hold`` seconds; the dialplan hangs up
after the same time.  Each caller sends its digit 200 ms after the answer and waits for the
far end's BYE.  A call is *served* when that BYE comes at least 80% of the hold after the
answer and the setup (INVITE to BYE, minus the hold) is within ``--max-setup`` seconds; a
caller with no BYE by hold + max-setup gives up ("abandoned"); a BYE sooner than 80% of the
hold after the answer ("bye_too_soon") is a call dropped early, or an answer the caller saw
late (a lost 200 OK resent after 500 ms).  Every system is judged by the same caller log,
from outside (tests/sipp/bench_caller.xml writes one line per call).

A step offers ``rate`` calls/s for ``--step`` seconds and passes when at most 0.5% of its
calls were not served and its setup did not climb (median of the last quarter minus the
first quarter of the step <= 500 ms: a growing backlog is not a sustained rate, however
short the step).  Each system doubles from ``--start`` until a step fails, then bisects
between the last pass and the first failure (``--bisect`` steps, 10% resolution), then runs
that best rate once more: a rate that fails its repeat is not sustained, and one step 10%
lower is tried (at the box's edge a rate passes one minute and fails the next).  The
system's figure is the highest rate passed with no step failing at or below it (the overload
step below is judged against it).  A
system that passes ``--max-rate``, or whose SIPp could not even offer the rate (its INVITEs
spread thinner than 90% of it), is reported as such: its figure is then a lower bound.

Then, at ccari's sustained rate S: one **profile** step (cProfile around the whole process,
ccari's runtime runs in it via ``ccari.app.runtime``; top 25 by tottime printed, .prof/.txt
written), and one **overload** step at 2xS, with ccari's rate cap set to S as an admin
would set it from this figure (``voice.max_calls_per_s``): served calls/s, refused cleanly (a final
404/480/486/503/603, with or without early media), failed otherwise, and stuck in the IVR
(callers whose contact ended in the IVR, or who got no final response; the three counts are
disjoint and add up, with the calls served in time, to the calls offered).  Every step prints
the CPU used by Asterisk, by this process (ccari) and by the two SIPps, in % of one core.

    python -m bench.voice              # every system to saturation: 4 min measured here
    python -m bench.voice --verbose    # where the failed calls ended, per step
    python -m bench.voice --profile    # a longer profile step (20 s)
    python -m bench.voice --full       # 10 s steps
    python -m bench.voice --only ccari # one system (while tuning it)

Last line: ``ccari_cps=… queue_cps=… dialplan_cps=… ratio_queue=… ratio_dialplan=…
p99_setup_ms=…`` (ratios are ccari / baseline; p99 over ccari's passing steps).

Setup times include about 1.2 s of IVR for ccari and the queue alike: the caller's 200 ms
pause, then SIPp's RFC 4733 digit, whose end Asterisk sees about a second later (ccari's
contacts show arrival -> queued ~1.2 s, queued -> agent answered ~20-100 ms at low rates).
Both sides get the same 1000 agent phones (``--agents``): app_queue walks them all per call,
ccari's router too.

Profile (measured on this box, 2 cores, 2026-12-04)
---------------------------------------------------
Before the live-call core work (same bench, same box, noisy: other test suites ran at the
same time), two default runs gave::

    ccari_cps=30 queue_cps=90 dialplan_cps=440 ratio_queue=0.333 ratio_dialplan=0.068
    ccari_cps=40 queue_cps=100 dialplan_cps=320 ratio_queue=0.400 ratio_dialplan=0.125
    overload offered=80/s served_cps=12.0 refused=0 failed=339 stuck_in_ivr=1 calls=400

ccari then refused nobody past its capacity: it queued every caller and served them late.

First pass (REST over the ARI websocket with an event filter, one group commit for the hot
path's writes run on SQLite's connection in the loop, the router counting A for admission,
overload control), the default run took 3 min 56 s, 25 ramp steps of 5 s::

    dialplan 360/s   queue 80/s   ccari 50/s   (asterisk 53% ccari 58% sipp 8% at 50/s)
    overload offered=100/s served_cps=51.2 refused=244 failed=0 stuck_in_ivr=0 calls=500
    ccari_cps=50 queue_cps=80 dialplan_cps=360 ratio_queue=0.625 ratio_dialplan=0.139

That profile said: the shared commits took 3.3 of 5.8 busy seconds, SQLite itself 0.2 s, the
rest SQLAlchemy's ORM (about 12 statements a call); every pooled session ended with a
rollback on aiosqlite's thread (a round trip through the loop and a GIL hand-over, even
for sessions that only read); an admission decision read every call in progress.

Second pass (same box, 2026-12-04, the machine otherwise quiet), default run, 4 min 16 s::

    dialplan 560/s (asterisk 121% sipp 41%)
    queue    160/s (asterisk 125% sipp 14%)
    ccari    110/s (asterisk  72% ccari 46% sipp 10%; 120/s: 8.5% refused by the gate)
    overload offered=220/s served_cps=79.2 refused=499 failed=205 stuck_in_ivr=0 calls=1100
    memory: ccari (this process) peak RSS 149 MB; Asterisk peak RSS 1883 MB
    ccari_cps=110 queue_cps=160 dialplan_cps=560 ratio_queue=0.688 ratio_dialplan=0.196
    p99_setup_ms=2031

Runs minutes apart give ccari 80-110/s and the queue 140-160/s (the baselines moved as
much as ccari between the passes: read single figures as +-25%).  A later default run, with
skill-scored placements by attribute profile::

    ccari_cps=80 queue_cps=160 dialplan_cps=600 ratio_queue=0.500 ratio_dialplan=0.133
    overload offered=160/s served_cps=62.8 refused=328 failed=158 stuck_in_ivr=0 calls=800

and ``--only ccari`` just before it (same code)::

    ccari_cps=110 overload offered=220/s served_cps=109.6 refused=552 failed=0 stuck_in_ivr=0

What changed:

* the hot path's writes are SQLAlchemy Core statements built once (contact moves with a
  compare-and-set on the state, the admission decision, the caller's customer lookup):
  the five writes of a call took 6.8 ms of CPU and now 2.8 ms, an admission decision with
  200 calls up 3.2 ms and now 1.4 ms (micro-benchmarks of the jobs alone);
* SQLite sessions that did not write end without a round trip to aiosqlite's thread;
* admission keeps a copy of the live admitted set, current while the pool row carries the
  token of this node's last change (one row read per decision instead of every call);
* an admitted call's trunk and contact are written in one shared commit, and the music
  stops while the bridge is made (one wait for Asterisk instead of three);
* the agent phones' state is read every third of the qualify period, not every 2 s (a
  read of 1000 endpoints cost 4-55 ms of ccari's loop and held Asterisk's ARI thread);
* overload: Asterisk's dialplan refuses the share the gate sets (``CCARI_SHED``) before
  Stasis, so a refused call costs ccari nothing; the gate samples every 50 ms;
* a skill-scored placement walks the free agents by attribute profile (agents with the same
  attributes score the same) instead of scoring every free agent: ``_place`` left the
  profile (0.8 s of 5.3 before); ``bench.routing``'s p99 went from 58 to 69 us (it has
  as many profiles as agents, and pays for the upkeep).

Where the time goes now (profile step at 110/s, main thread, cProfile, which inflates small
Python calls): 5.3 s busy, 2.9 s idle. The shared commits 3.3 s, of which 2.1 s run the jobs
(SQLite 0.25 s, SQLAlchemy Core's execution and row processing most of the rest) and 1.1 s
are the async session around each batch; ``routing/matching.py:_place`` 0.8 s for 322
placements (each scored every free agent: fixed since, see above); ARI requests 0.5 s; the
Stasis router's handlers 1.4 s in all. ccari's process uses about half a core where it
saturates; Asterisk about 0.7 of a core. On this 2-core box the three processes together
(Asterisk, ccari, SIPp) reach ~130% before setup times climb: the 160 calls/s goal would
need Asterisk alone at ~105% and ccari at ~75% of a core with SIPp beside them, which this
box does not have; the queue baseline reaches 160/s because app_queue costs Asterisk less
per call than ccari's path (Stasis, MOH, a bridge and about ten ARI requests) costs Asterisk
plus ccari.

Past its capacity ccari refuses the excess at the door; at twice its rate the share the gate
refuses arrives late (the first second of a sudden doubling is admitted before the delays
show it), so some admitted calls are served later than the 3 s the bench allows.
Third pass (2026-12-05, the box quiet, default run, 4 min 1 s), after the writes of a call
went from 26 statements to 22 (a trunk released once, the recording policy cached for a
second, a call without a recording not looked up at its end), the hot path's INSERT, UPDATE
and DELETE run prepared on SQLite (``ccari/storage/fast.py``: 12.6 against 32 us an insert,
6 against 14 us an update, micro-benchmark), and the features of that day (transfers,
conference, reports, talk now, the outward gate)::

    dialplan 480/s (asterisk 112% sipp 37%)
    queue    130/s (asterisk 118% sipp 13%)
    ccari     80/s (asterisk 67% ccari 41% sipp 9%; 90/s: 0.9% refused by the gate)
    overload offered=160/s served_cps=115.0 refused=225 failed=0 stuck_in_ivr=0 calls=800
    ccari_cps=80 queue_cps=130 dialplan_cps=480 ratio_queue=0.615 ratio_dialplan=0.167
    p99_setup_ms=1271

The overload step met its goal (115/s served, every other call refused cleanly, nothing
stuck).  What stops ccari between 90 and 120/s is not its CPU: at 120/s its process used 44%
of a core and Asterisk 86%, and the gate refused because answers came late (the warning
names the delay: "event loop 140, writes 182, answers 447" ms).  The ARI requests of a call
(answer, play, stop, MOH on and off, bridge, add, originate, hang-up, destroy: about ten)
all go over the one events websocket; whether Asterisk's handling of that one connection
is what the answers wait for is the next thing to measure (several REST connections in
parallel against it), beside fewer requests (a bridge kept for the next call, MOH only when
no agent is free at once).

Fourth pass (2026-12-05, the box shared with other work, so only relative figures): both
suspects measured, neither is the limit.

* REST over HTTP (aiohttp's pool: parallel connections, one Asterisk HTTP thread each)
  against REST over the events websocket, alternated at a fixed 120/s step of 10 s: 35.8%
  and 33.0% of calls failed over HTTP, 38.6% and 12.4% over the websocket.  Then four
  ``--only ccari`` ramps, alternated, while the box was nearly quiet: HTTP sustained 90 and
  80/s, the websocket 80 and 100/s.  Each request takes 0.5-2.3 ms at 20/s either way.  The
  transport stays the websocket.  One of those ramps, over the websocket at load average 3,
  had 375 calls fail and 3 stuck in the IVR in its overload step (served 34/s); the other
  three overload steps served 77-84/s with none failed or stuck.  The overload goal holds
  on a quiet box only.
* Asterisk's threads at 120/s (``/proc/<pid>/task/*/stat`` over 4 s): 64% in all over 560
  threads, the busiest 15%.  No single Asterisk thread (the websocket's, a taskprocessor's)
  is saturated.
* Inside ccari at 100/s: from StasisStart to the trunk and contact saved, p50 20 ms and p90
  161 ms; the answer request after it p50 18 ms and p90 239 ms (at 20/s: 2.3 and 1.1 ms).
  Both grow together: they wait on a busy box, not on one queue.

The budget per call says the rest.  On the quiet third pass ccari's path cost Asterisk
8.4 ms of CPU a call (67% at 80/s) and ccari's process 5.1 ms (41%).  The queue baseline
cost Asterisk 9.1 ms (118% at 130/s).  ccari's Asterisk share is already below app_queue's.
But ccari's process costs 5.1 ms on top, and both share 2 cores with the SIPps.  So
``ratio_queue >= 1.0`` on this box needs ccari's own cost near zero: Python's share
would have to fall well below 1 ms a call.  160/s would need about 2.2 cores for
Asterisk and ccari alone.  The ten ARI requests of a call are each already one Asterisk
action.  Ways to get there: fewer of them (no music-on-hold round trip when an agent is
free at once; bridges kept for the next call), and several ccari processes on several
cores (the cluster work).

Fifth pass (2026-12-06, box quiet): the first of those measured and left out.  A call
carries ten ARI requests (answer, play and stop the welcome, originate the agent's leg,
music on and off while her phone rings, create and fill the bridge, hang up the caller,
destroy the bridge; counted at 20/s).  Music started only if the agent's phone still rang
after a second took the music's two away (none at all in the bench: its phones answer at
once), but at a fixed 100/s, alternated with the code before, Asterisk used 65% and 66%
against 66% and 76% and ccari 48% and 51% against 48% and 51%: no difference the box's
noise does not cover, so the caller keeps hearing the music from the first ring.
Sixth pass (2026-12-06): a sampling profile, then the three biggest shares of ccari's own
time cut.  cProfile inflates small Python calls, so the process was sampled instead
(py-spy, non-blocking, 200 Hz, 12 s at a fixed 100/s, main thread).  Busy samples: the
shared commits' jobs 31%, of which the admission decision 16% (building the facts walked
every call up: a frozen dataclass per call per decision, 7%), reading a contact before it
moves 5% (four times a call: SQLAlchemy's execution and result set-up, then the ORM's
constructor), the caller's customer 2%; the tenant's fax-detection setting read in a
session of its own for every call 2%; then ARI requests 8%, the Stasis router's
delivery 7%, JSON 4%.  What changed:

* the admission service's copy of the live calls is indexed by call and by tenant as it
  changes (``admission/liveset.py``): the facts of a decision with 300 calls up went from
  176 to 3 us, with 2000 from 1.2 ms to 5 us (micro-benchmark);
* the hot path's reads are prepared like its writes (``storage/fast.py``, ``Query``): a
  contact read in a shared commit 50 -> 18 us, and so the trunk pool, a tenant's trunk
  policy and the caller's customer;
* the tenants' fax-detection settings are read once a second for all of them.

At a fixed 100/s, alternated with the code before (three rounds, 10 s steps): ccari's
process used 44%, 44% and 47% of a core against 53%, 52% and 53% (5.3 -> 4.5 ms a call),
setup p99 1243-1280 ms against 1355-1502 ms.  Then the default run (3 min 48 s)::

    dialplan 560/s (asterisk 111% sipp 38%)
    queue    150/s (asterisk 119% sipp 13%)
    ccari    110/s (asterisk 77% ccari 40% sipp 10%; 120/s: 5.3% refused by the gate)
    overload offered=220/s served_cps=105.6 refused=362 failed=210 stuck_in_ivr=0 calls=1100
    ccari_cps=110 queue_cps=150 dialplan_cps=560 ratio_queue=0.733 ratio_dialplan=0.196
    p99_setup_ms=1309

A fixed 120/s step minutes later passed with none refused: the sustained figure sits on the
edge between 110 and 120, and the gate's answer-delay signal (the slowest answer of a
sample: 599 ms once in that run) decides which.  The overload step's 210 failed were
admitted calls answered after the bench's 3 s (the first second of a sudden doubling is
admitted before the delays show it; a run of the same step an hour earlier had none).  Tried
and left out: uvloop as the event loop (at a fixed 100/s, alternated twice: ccari's CPU
the same, Asterisk's 80-83% against 72-74%, setup p99 higher), and orjson for ARI's JSON
(4% of the samples: at most that).
The overload step then (the same day): twice the sustained rate for 5 s is a sudden
doubling, and the gate saw it late and then refused too much.  In one run's contacts, every
call of the first 2.5 s was admitted (its delay signal was the slowest call *answered*, and
a backlog shows there only once its calls are through), then the share halved on every
pair of slow samples down to the floor (9-13 calls/s admitted) while the calls admitted
before still kept the delays up.  Now the oldest call still waiting for its answer counts
as it waits, and the share shrinks at most once in half a second (``Limits.settle``).
Four overload steps each, alternated with the gate before (``--start 110 --max-rate 110``,
offered 220/s): failed 0, 51, 0, 0 and served 166, 147, 123, 184/s, against failed 120,
15, 99, 6 and served 128, 136, 137, 155/s; with the settling alone: failed 5, 0, 117, 0.
What is left is not ccari's to see: in those steps the callers' IVR grew from 1.2 to 2.1 s
and the agent legs' answers from 10 ms to 0.4-0.9 s while StasisStart still reached ccari
within a few ms of the channel's creation (measured): the box's two cores, SIPp's too, are
saturated, and every process's media and SIP are late together.
Without the false alarms the ramp goes further: the default run right after gave
``ccari_cps=160 queue_cps=180 dialplan_cps=560 ratio_queue=0.889`` (160/s passed with its
setup climbing 374 ms in the 5 s step: on the edge; a 10 s step at 160/s then had 17.7%
refused by the gate, and ``--start 150`` passed with a flat setup, p50 1240 ms).  Its
overload step at twice that, 320/s, collapsed: served 23/s, 861 failed.  At 300/s the
gate before this change did the same (served 34/s, 671 failed, 4 stuck in the IVR; this
one: 48/s, 694 failed, 1 stuck): 300 INVITEs a second with their SIPp on two cores leave
no CPU to refuse the excess with, and in the first 1.5 s every call is admitted while the
callers' IVR and the agent legs' answers already take seconds.  A cap learned from the
rate the node was seen to carry (a sudden doubling admitted at 1.25 times that at once,
not in full until the delays show it) would cut that onset.  One was built and measured
the same evening, and left out: the rate counted as carried once 3 s had passed without an
overload after it, a cap only once the node had been seen at its limit (an overload that
lasted and began near that rate, so that a hiccup or a slow database at a quiet hour caps
nothing), growing by the headroom while it held with the delays low.  At 300/s offered
after a 150/s step it served 7, 85 and 35/s against 102 and 113/s without it (such a step
never shows the limit first, so the cap never acted: the box's noise at 300/s is that
large).  Counting the third-oldest waiting call instead of the oldest (one slow call is no
backlog) did worse at 2 x 110/s: failed 97, 0, 72 against 0, 16, 0.

Seventh pass (a measurement fix).  The ramp's ccari steps did not start from rest: the gate
grows back by a fifth a second after an overload, so the step after a failed one saw its
first calls refused for what the step before did.  In a default run (80 passed, 160 failed,
then 120 failed with 8 of 600 refused, 100 and 110 passed: ``ccari_cps=110``), the 120/s
step's contacts were 109 in its first second and 120 in each of the next four: all its
refusals in the first second, with the box at 118% of its 200%.  Each ccari step now waits
for the gate to admit every call again before the next one (``gate_open``), as the
baselines' steps wait for Asterisk to drain.  The default run right after::

    dialplan 720/s (asterisk 115% sipp 40%)
    queue    160/s (asterisk 103% sipp 12%)
    ccari    160/s (asterisk 89% ccari 35% sipp 12%; setup p50 1744 ms, p99 2084 ms)
    overload offered=320/s served_cps=10.4 refused=824 failed=724 stuck_in_ivr=0 calls=1600
    ccari_cps=160 queue_cps=160 dialplan_cps=720 ratio_queue=1.000 ratio_dialplan=0.222
    p99_setup_ms=2067

A second run minutes later: ``ccari_cps=150 queue_cps=160 dialplan_cps=520
ratio_queue=0.938`` (160/s failed 14.8%, then 120, 140 and 150 passed, none refused: the
step after a failed one no longer fails for it).  ccari now carries 150-160/s where
app_queue carries 160/s on this box.
The overload step at twice that still collapses: the gate refuses about half (824 of 1600,
each a 503 from the dialplan), and the half it admits, the sustained rate itself, is more
than the box carries beside 160 refusals a second, so most of it is answered past the
bench's 3 s.  At a rate that saturates the box, refusing an equal rate more cannot cost
nothing, so serving the whole sustained rate at twice it is not within reach here.

Eighth pass (2026-12-07): that last conclusion was wrong, and the overload step passes.
Told to turn away half of the calls before the step began (``CCARI_SHED`` set to 500 by
hand, the gate held open), the box served 157.6/s of 300/s offered with none failed and a
setup p99 of 2.1 s, where its ramp had passed 150/s: refusing costs the box little (a
channel and two dialplan priorities, then a 503).  What collapses the step is the surge's
first second.  Traced every 50 ms, the delays (answers, writes, loop lag) stay at a few ms
for 1-1.5 s of 280/s, every call admitted; then the ARI answer of a new call takes
0.5-1.2 s (Asterisk answers the websocket's requests one after the other, each command
waiting for its channel's thread: ``ari_websockets.c``, ``stasis_app_send_command``) and
the shared commits 0.4-0.7 s, the gate halves, and the calls admitted after it wait behind
the backlog's work as long as those before, so it halves again down to its floor while the
box spends itself on calls that are past the bench's 3 s anyway.  Two changes:

* the rate a node carries, as its admin measured it, is a setting (``voice.max_calls_per_s``,
  0: none): the gate counts the calls offered each 50 ms (those the dialplan turned away
  included: what reached ccari over the share let through, per elapsed time, not per
  nominal interval, which a late loop made read high) and admits that rate of them,
  counted over the last 40 calls that reached it (at most a second: at a low rate a few
  samples hold too few calls to tell a rate; over a fixed five samples the served rate of
  three steps at 2 x 150/s was 140, 153 and 150/s, over 40 calls 153, 155 and 153);
* the share to refuse goes to Asterisk on an HTTP request of its own: on the websocket it
  queued behind the backlog (its first telling took 964 ms once, while ccari refused the
  same share again on top of the dialplan's).

Overload steps at 2 x 140/s with the cap at 140 (``--start 140 --max-rate 140 --bisect 0
--no-profile``), counting over five samples: served 140.2, 136.8, 137.0, then (per elapsed
time) 146.2 and 147.2/s, none failed, none stuck; over two samples the share swung from
0.24 to 0.84 (served 120.6-142.2/s).  The code before, the same hour: served 19.4 and
105.2/s of 300/s, with 924 and 370 failed.  Tried and left out on the way (each failing
hundreds): a rate learned from the ramp (a second with the delays low counts as carried),
the cut to it at the first rising delay: the surge's own first second looked carried, and
once that was ruled out (carried only if no overload followed for 2 s) the cut still came
a second late (served 29 and 46/s); judging only the calls that arrived after a cut, as TCP
ignores the losses of the window it already halved: those calls wait behind the same
backlog (served 27 and 109/s); every ARI request on HTTP instead of the websocket: answers
shorter, commits longer (served 98 and 111/s); two more websockets carrying requests only
(a request's channel or bridge choosing one), at a fixed 160/s alternated three ways twice:
setup p50 1268 and 1407 ms with one, 1372 and 1296 with two, 1398 and 1522 with three.  The
default run after::

    dialplan 600/s (asterisk 103% sipp 39%)
    queue    150/s (asterisk 120% sipp 13%)
    ccari    140/s (asterisk 85% ccari 41% sipp 11%; 150/s failed 9.1%)
    overload offered=280/s served_cps=146.0 refused=670 failed=0 stuck_in_ivr=0 calls=1400
    ccari_cps=140 queue_cps=150 dialplan_cps=600 ratio_queue=0.933 ratio_dialplan=0.233
    p99_setup_ms=1562

Two default runs later the overload step failed again (served 85 and 124/s, 253 and 92
answered late) where eight ``--only ccari`` runs (a fresh Asterisk each) had none fail.  The
difference is the baselines run before ccari on the same Asterisk: app_queue stayed loaded
with its 1000 members, and it follows the device state of every member, so every ring of
ccari's calls on those phones was work for it too.  It is now unloaded before ccari's ramp.
The default run after::

    dialplan 640/s
    queue    160/s (asterisk 103% sipp 13%)
    ccari    160/s (asterisk 86% ccari 38% sipp 12%; setup p50 1611 ms, p99 2081 ms)
    overload offered=320/s served_cps=165.6 refused=772 failed=0 stuck_in_ivr=0 calls=1600
    ccari_cps=160 queue_cps=160 dialplan_cps=640 ratio_queue=1.000 ratio_dialplan=0.250
    p99_setup_ms=2060

The next one lost its figure to one call at 20/s (1 of 100 not served, although its contact
ended as every other, answered and hung up by the agent: on the caller's side, most likely
the 200 OK resent late that the judging above describes), so ``ccari_cps=18``: a step fails
on a single call, by design, and a rerun is the answer.  With the rate counted over 40
calls and the fallbacks only checked, the default run that closed the day::

    queue    180/s
    ccari    140/s (150/s: 4.7% not served)
    overload offered=280/s served_cps=143.6 refused=682 failed=0 stuck_in_ivr=0 calls=1400
    ccari_cps=140 queue_cps=180 dialplan_cps=640 ratio_queue=0.778 ratio_dialplan=0.219
    p99_setup_ms=1406

The overload step holds; the sustained figures move by a step or two from run to run, the
queue's as much as ccari's (150-180/s for app_queue this day, 140-160/s for ccari).

Ninth pass (2026-12-07, later): the systems no longer share one Asterisk.  Run alone
(``--only ccari``, a fresh Asterisk), ccari passed 170/s four times out of four and 180/s once
in four; measured after the dialplan's ramp on the same process it carried 140/s, after the
queue's 160/s, after both 130/s (the dialplan's 1280/s step leaves Asterisk at 2.3 GB RSS).
Each system now gets an Asterisk started afresh from the same configuration (app_queue loaded
for the queue only).  What else was measured that day, at 150-180/s:

* The verbose line names the refusals' final responses: every refusal of ccari's failed
  steps was a 503 of the dialplan's shedding (the gate), none Asterisk's own; the served
  calls' setup p99 stayed near 2 s.  With the delay rule off (``voice.overload_delay_ms = 0``)
  a 10 s step at 180/s failed 57% (answered late or abandoned): those refusals are needed.
* Every ARI request of a call (answer, play, originate, bridge create...) waits alike under
  load: 1-3 ms at 80/s, then at 150/s over 10 s 20, 60, 90, 270 ms, 300-400 requests
  outstanding, a bridge's creation as long as a channel's answer.  Three more websockets
  carrying requests (each request's channel or bridge choosing one) cut the setup p50 of
  160/s steps from 1.8-1.9 s to 1.4-1.5 s but not the sustained rate: 170/s passed and 180/s
  failed with and without them, Asterisk using 5-10 points more CPU with them.  Left out.
* ``taskprocessor_overload_trigger = pjsip_only`` (Asterisk's device-state taskprocessor does
  reach its high-water mark at these rates, which makes PJSIP drop new INVITEs for a while):
  no difference in four alternated 160/s steps.  Left out.
* The queue baseline fails 170/s too in a 10 s step (setup climbing 851 ms, 1.8% abandoned):
  both systems saturate near 160/s on this box.  The CPU a call costs at the sustained rate:
  app_queue 6.3 ms of Asterisk; ccari 6.0 ms of Asterisk plus 2.8 ms of its own process (a
  flat profile: the shared commits' jobs a quarter of it, ARI's JSON and delivery, asyncio).
  Parity on every run would need ccari's own share near 1 ms a call.
* A bridge kept for the next call (no create and destroy: two of a call's ten requests), at a
  fixed 120/s alternated twice: Asterisk 86 and 87% against 86 and 93%, ccari 47% either
  way.  Left out.

Two default runs with an Asterisk afresh for each system, the box quiet::

    queue    160/s (asterisk 100% sipp 11%; 180/s: 3.9% not served)
    ccari    150/s (asterisk 90% ccari 42% sipp 12%; 160/s: 6.5% refused by the gate)
    overload offered=300/s served_cps=140.8 refused=796 failed=0 stuck_in_ivr=0 calls=1500
    ccari_cps=150 queue_cps=160 dialplan_cps=640 ratio_queue=0.938 ratio_dialplan=0.234

    queue    160/s (asterisk 108% sipp 12%; 180/s: setup climbing 1375 ms)
    ccari    160/s (asterisk 87% ccari 42% sipp 12%; setup p50 1499 ms, p99 1858 ms)
    overload offered=320/s served_cps=143.6 refused=855 failed=27 stuck_in_ivr=0 calls=1600
    ccari_cps=160 queue_cps=160 dialplan_cps=600 ratio_queue=1.000 ratio_dialplan=0.267

At twice 150-160/s the box turns half away and serves 140-145/s of the other half: the cap
holds the surge off (nothing stuck, at most 27 of 1600 late), and what it admits is the
box's edge, where each refusal (a channel, its RTP socket, two priorities and a 503) still
costs Asterisk a little.

Tenth pass (2026-12-07, a freshly provisioned Asterisk root and virtualenv, the box quiet
after a CI run): the same code measures lower, and so does the baseline's CPU::

    queue    160/s (asterisk 120-138%, was 100-108%; 320/s: not served)
    ccari    100-110/s (asterisk 87% ccari 43% sipp 11%; 120/s: 4.8-15.8% not served)
    overload offered=220/s served_cps=90.0 refused=650 failed=0 stuck_in_ivr=0 calls=1100
    overload offered=200/s served_cps=74.0 refused=630 failed=0 stuck_in_ivr=0 calls=1000
    ccari_cps=100 queue_cps=160 dialplan_cps=560 ratio_queue=0.625 ratio_dialplan=0.179
    ccari_cps=110 queue_cps=160 dialplan_cps=600 ratio_queue=0.688 ratio_dialplan=0.183

The ninth pass's commit measured the same today (140/s: 9.7% and 21.7% refused), so this is
the box, not the code.  In ccari's failing steps neither process is saturated (Asterisk
about 90%, ccari 45%, of two cores): the gate refuses because Asterisk's answers come late
(the answer delay 390-450 ms, the shared commits' 40-380 ms).  Every request over HTTP
instead of the websocket (Asterisk's HTTP threads in parallel) refused as many at 140/s
(6.1 and 8.3%; Asterisk 81%, ccari 50%).  app_queue has no such round trips and took the
slower box in its stride; ccari's margin is the first thing a slower box takes.

Eleventh pass (2026-12-07, a new session on a fresh machine of the same kind): the box slower
again, for app_queue too, and the tenth pass's reading corrected::

    dialplan 520/s (asterisk 111% sipp 40%)
    queue    130/s (asterisk 118% sipp 14%; 140/s: 20.7% not served)
    ccari    100/s (asterisk 86% ccari 49% sipp 11%; 110/s: 6.9% refused by the gate)
    overload offered=200/s served_cps=75.0 refused=625 failed=0 stuck_in_ivr=0 calls=1000
    ccari_cps=100 queue_cps=130 dialplan_cps=520 ratio_queue=0.769 ratio_dialplan=0.192

The box *is* saturated in those steps: the per-process figures leave out the kernel's work
on their behalf that no process is charged for (loopback packets, wake-ups). ``vmstat 1``
beside fixed 120/s steps showed the box 1-8% idle for both systems (user 58-64%, system
32-37%, about 45,000 context switches a second): ccari at 120/s and app_queue at 120/s each
fill both cores. The cost of a call, from the default run's figures at the sustained rate:
app_queue 10.2 ms of CPU (Asterisk 9.1, SIPp 1.1), ccari's path 14.6 ms (Asterisk 8.6, ccari's
process 4.9, SIPp 1.1). ccari's Asterisk share is still below app_queue's; its own process is
the difference, and on this day it costs 4.9 ms a call where it cost 2.8 on the fast day
(Asterisk's share rose by 44%, Python's by 75%). Fixed-rate steps vary widely from minute to
minute (100/s passed in 2 runs of 6 alternated, 120/s passed once and 80/s failed once).
Measured and left out:

* A sampling profile at 80/s (py-spy, 200 Hz, 10 s, main thread): the shared commits 29%
  (the jobs' statements and parameters; SQLite's own execution about a sixth of that: a
  call writes 25 statements, about 15 us each), socket writes 9.5% (one ``send`` per ARI
  request), ARI requests and the Stasis router's delivery about 10% each, JSON 5%: flat, no
  share whose removal would close a 30% gap.
* The cyclic collector: 0.7-1.0 s in a 30 s run of 1,500 calls, its full passes 50-60 ms
  each (the wallboard keeps the last 15 minutes' contacts). A first-generation threshold of
  50,000 cut that to 0.13 s; the step's figures stayed within the noise.
* Debian's Python (3.11.2, built with profile-guided optimisation) for the virtualenv
  instead of the machine's own 3.11.7 (built without): 27% faster on a micro-benchmark of
  JSON and object work, but at a fixed 100/s, alternated three times, ccari's process used
  49-50% of a core either way (its time is in syscalls, SQLite and C as much as in the
  interpreter).

The ramp now runs each system's best rate a second time (a rate that fails its repeat is not
sustained, and a step 10% lower is tried): at this box's edge a rate passed once failed the
next minute, and the overload step, capped at that rate, then had less than it to serve. The
default run after (4 min 29 s; the box slower still: the plain dialplan failed 360/s)::

    dialplan 320/s (repeated: pass; asterisk 97% sipp 31%)
    queue    110/s (repeated: pass, 1 of 550 not served; 120/s: 0.8% not served)
    ccari    100/s (repeated: pass; asterisk 84% ccari 46% sipp 11%; 110/s: 10.6% refused)
    overload offered=200/s served_cps=97.8 refused=511 failed=0 stuck_in_ivr=0 calls=1000
    ccari_cps=100 queue_cps=110 dialplan_cps=320 ratio_queue=0.909 ratio_dialplan=0.312
    p99_setup_ms=1922

Twelfth pass (2026-12-07, another new session): a sampling profile of the whole process at a
fixed 100/s for 10 s (py-spy, 100 Hz; the step failed 10.8% with py-spy attached, ccari 45%
of a core) puts the event loop's busy time in the shared commits 37% (the jobs 33: the
arrival's admission decision, contact and customer lookup a third of it, the contact's
moves the rest; the session and commit around each batch 4), the Stasis router's delivery
24% (StasisStart's handling half of it), reading the ARI websocket 13% (JSON 3, event
parsing 4, dispatch 2), ARI requests 13% (the socket write of each a third of it). Nothing
left is larger than a few percent of the loop; the phone-number parse a caller's lookup
needs is 3% (every caller's number is new, so its cache does not help). The default run::

    dialplan 520/s (asterisk 113% sipp 38%)
    queue    120/s (asterisk 110% sipp 13%; 126/s: setup climbing 1356 ms)
    ccari     90/s (asterisk 74% ccari 46% sipp 10%; 100/s failed its repeat, 14.2%)
    overload offered=180/s served_cps=94.0 refused=430 failed=0 stuck_in_ivr=0 calls=900
    ccari_cps=90 queue_cps=120 dialplan_cps=520 ratio_queue=0.750 ratio_dialplan=0.173
    p99_setup_ms=1558

A call costs app_queue's Asterisk 9.2 ms of CPU, ccari's Asterisk 8.2 ms and ccari's own
process 5.1 ms: the same split as the passes before.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import datetime as dt
import logging
import pstats
import re
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from bench._common import percentile
from bench._voice_load import (
    BUFFER,
    CALLER_IP,
    Step,
    drive,
    ramp,
    rss_peak_mb,
    sustained,
)
from ccari.admission.models import TrunkPool
from ccari.app import Runtime, runtime, with_secrets
from ccari.config import Config, DatabaseConfig, PbxConfig, VoiceConfig
from ccari.pbx import PbxProcess, provision, start, stop
from ccari.storage.db import make_engine, make_sessionmaker, upgrade_async
from ccari.storage.models import Contact, IvrMenu, IvrOption, Number, Queue, Tenant
from ccari.tenants.pbx import build_spec
from tests.support.pbx import add_phone_agents
from tests.support.sipp import Sipp, free_port

CCARI_DID, QUEUE_DID, DIALPLAN_DID = "19990100", "19990200", "19990000"
CALLER_PREFIX = "1555"  # bench_caller.xml: the caller's number is this + SIPp's call number
IDLE = "'poll' of 'select.epoll'"  # the event loop waiting: not work
FINAL = frozenset({"completed", "abandoned", "rejected", "failed"})


async def seed(cfg: Config, agents: int, uas_port: int) -> None:
    engine = make_engine(cfg.database.url)
    async with make_sessionmaker(engine)() as s:
        tenant = Tenant(slug="bench", name="Bench", trunk_ratio=10, after_hours_trunks=100_000)
        s.add(tenant)
        await s.flush()
        queue = Queue(tenant_id=tenant.id, name="main", ring_timeout_s=15, wrap_up_s=0,
                      announce_every_s=60)
        menu = IvrMenu(tenant_id=tenant.id, name="main", prompt="welcome",
                       invalid_prompt="invalid-option", timeout_s=5, max_tries=2)
        menu.options = [IvrOption(digit="1", label="sales", attributes={"skill": "sales"})]
        s.add_all([queue, menu])
        await s.flush()
        s.add(Number(tenant_id=tenant.id, did=CCARI_DID, queue_id=queue.id, ivr_menu_id=menu.id))
        # The shared trunk pool must not be what limits the bench (admission is measured
        # by bench.admission): size it far above any rate.
        pool = await s.get(TrunkPool, 1)
        assert pool is not None
        pool.total_trunks = 100_000
        add_phone_agents(s, tenant.id, agents, prefix="bench", phone_host="127.0.0.1",
                         phone_port=uas_port)
        await s.commit()
    await engine.dispose()


def queues_conf(phones: list[str]) -> str:
    members = "".join(f"member => PJSIP/{p}\n" for p in phones)
    return ("; Written by bench/voice.py: app_queue with the bench's agent phones.\n"
            "[general]\npersistentmembers = no\n\n"
            "[bench]\nstrategy = rrmemory\nmusicclass = default\ntimeout = 15\nretry = 1\n"
            "wrapuptime = 0\nringinuse = no\nautofill = yes\njoinempty = yes\n"
            "leavewhenempty = no\nannounce-frequency = 0\nperiodic-announce-frequency = 0\n"
            "announce-position = no\nannounce-holdtime = no\n" + members)


def baselines(proc: PbxProcess, hold: int, *, queue: bool) -> None:
    """The plain dialplan and the app_queue caller path, added to the running instance
    (app_queue loaded only for the queue's ramp: it follows the device state of its
    members, the same phones every system's calls ring)."""
    if queue:
        (proc.paths.etc / "queues.conf").write_text(
            queues_conf([p.username for p in proc.spec.phones]))
        if "Loaded" not in proc.rx("module load app_queue.so"):
            proc.rx("module reload app_queue.so")
    lines = [
        # "i": answer at once; plain Answer() waits up to 500 ms for the caller's first voice
        # frame, and SIPp's callers send none (ccari's ARI answer does not wait either).
        (DIALPLAN_DID, 1, "Answer(,i)", "from-carrier"),
        (DIALPLAN_DID, 2, f"Wait({hold})", "from-carrier"),
        (DIALPLAN_DID, 3, "Hangup()", "from-carrier"),
        (QUEUE_DID, 1, "Goto(bench-queue-ivr,s,1)", "from-carrier"),
        ("s", 1, "Answer(,i)", "bench-queue-ivr"),
        ("s", 2, "Background(ccari/welcome)", "bench-queue-ivr"),
        ("s", 3, "WaitExten(5)", "bench-queue-ivr"),
        ("s", 4, "Hangup()", "bench-queue-ivr"),
        ("1", 1, "Queue(bench,,,,30)", "bench-queue-ivr"),
        ("1", 2, "Hangup()", "bench-queue-ivr"),
        ("i", 1, "Hangup()", "bench-queue-ivr"),
        ("t", 1, "Hangup()", "bench-queue-ivr"),
    ]
    for exten, prio, app, context in lines:
        proc.rx(f"dialplan add extension {exten},{prio},{app} into {context} replace")
    shown = proc.rx("queue show bench") if queue else "Members"
    if "Members" not in shown:
        raise RuntimeError(f"app_queue has no queue 'bench':\n{shown}")


async def gate_open(rt: Runtime, limit_s: float = 30.0) -> None:
    """Wait until the overload gate admits every call again: the next step measures the node
    from rest, as the baselines' steps do, not the gate still reopening after this one (it
    grows back by a fifth a second, so a step after an overloaded one would otherwise see
    its first calls refused for what the step before did)."""
    assert rt.voice is not None
    for _ in range(round(limit_s / 0.1)):
        if not rt.voice.load.overloaded:
            return
        await asyncio.sleep(0.1)


async def drain(proc: PbxProcess, limit_s: float = 30.0) -> int:
    """Wait until Asterisk has no channel left; past the limit hang them up (returns how many)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        out = await asyncio.to_thread(proc.rx, "core show channels count")
        m = re.search(r"(\d+) active channels?", out)
        left = int(m.group(1)) if m else 0
        if left == 0:
            return 0
        if loop.time() > deadline:
            print(f"  note: {left} channels still up {limit_s:.0f}s after the step; hung up",
                  flush=True)
            await asyncio.to_thread(proc.rx, "channel request hangup all")
            await asyncio.sleep(2)
            return left
        await asyncio.sleep(0.5)


async def judge_contacts(rt: Runtime, step: Step, since: float) -> None:
    """Join each not-served caller to its contact (by caller number): where it ended."""
    when = dt.datetime.fromtimestamp(since - 1, dt.UTC)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the last StasisEnd events may still be on their way
        async with rt.sessions() as s:
            rows = list(await s.scalars(select(Contact).where(Contact.arrived_at >= when)))
        if all(c.state in FINAL for c in rows) or loop.time() > deadline:
            break
        await asyncio.sleep(0.5)
    by_caller = {c.caller_number: c for c in rows}
    served = {c.n for c in step.served}
    logged = {c.n: c for c in step.calls_log}
    breakdown: collections.Counter[str] = collections.Counter()
    stuck = 0
    for n in range(1, step.calls + 1):
        if n in served:
            continue
        call = logged.get(n)
        contact = by_caller.get(f"{CALLER_PREFIX}{n}")
        outcome = call.outcome if call else "no-final-response"
        where = f"{contact.state}/{contact.disposition}" if contact else "no-contact"
        breakdown[f"{outcome}:{where}"] += 1
        if call is not None and call.outcome == "refused":
            continue
        if call is None or (contact is not None and (
                contact.state == "ivr" or contact.disposition == "abandoned-in-ivr")):
            stuck += 1
    step.breakdown = dict(breakdown.most_common())
    step.stuck_in_ivr = stuck


def profile_report(prof: cProfile.Profile, out: Path, top: int = 25) -> str:
    """Top functions by tottime, and tottime per package; writes .prof and .txt."""
    prof.dump_stats(str(out.with_suffix(".prof")))
    with open(out.with_suffix(".txt"), "w") as f:
        pstats.Stats(prof, stream=f).sort_stats("tottime").print_stats(60)
    stats = dict(pstats.Stats(prof).stats)  # type: ignore[attr-defined]
    idle = sum(v[2] for k, v in stats.items() if IDLE in k[2])
    stats = {k: v for k, v in stats.items() if IDLE not in k[2]}
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)
    total = sum(v[2] for v in stats.values()) or 1.0
    lines = [f"profile: {total:.1f}s busy in this process's main thread, {idle:.1f}s idle in "
             "epoll (aiosqlite's worker thread, Asterisk and SIPp are not in it)",
             "   tottime  cumtime    ncalls  function"]
    for (path, line, func), (_cc, nc, tt, ct, _callers) in rows[:top]:
        lines.append(f"  {tt:7.2f}s {ct:7.2f}s {nc:9d}  {_short(path)}:{line}({func})")
    mine = sorted(((k, v) for k, v in stats.items() if "ccari/" in k[0]),
                  key=lambda kv: kv[1][3], reverse=True)
    lines.append("ccari's own functions by cumtime (time in them and what they call):")
    for (path, line, func), (_cc, nc, tt, ct, _callers) in mine[:12]:
        lines.append(f"  {tt:7.2f}s {ct:7.2f}s {nc:9d}  {_short(path)}:{line}({func})")
    packages: collections.Counter[str] = collections.Counter()
    for (path, _line, _func), v in stats.items():
        packages[_package(path)] += v[2]
    lines.append("tottime by package: " + ", ".join(
        f"{name} {100 * t / total:.0f}%" for name, t in packages.most_common(10)))
    return "\n".join(lines)


def _short(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    if path.startswith("~") or path == "<built-in>":
        return "builtins/C"
    short = _short(path)
    if short == path and "/" not in path:
        return "other"
    head = short.split("/", 1)[0].removesuffix(".py")
    return head if head else "other"


async def main(args: argparse.Namespace) -> None:
    # ccari warns about every ARI request that loses a race with a hang-up: many under overload.
    logging.basicConfig(level=logging.WARNING if args.verbose else logging.ERROR)
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="ccari-bench-voice-"))
    uas_port = free_port("127.0.0.1")
    pbx_cfg = PbxConfig(instance="bench", app_name="ccari-bench", sip_port=35060, ari_port=38088,
                        ami_port=35038, rtp_start=40002, rtp_end=60000,
                        carrier_match=(CALLER_IP,), agent_qualify_s=0)
    base = Config(state_dir=str(tmp / "var"), admin_token="bench-admin")
    cfg = with_secrets(replace(base, pbx=pbx_cfg, web=replace(base.web, secret_key="bench"),
                               database=DatabaseConfig(url=f"sqlite+aiosqlite:///{tmp}/ccari.db"),
                               voice=VoiceConfig(announce_every_s=60, wrap_up_s=0),
                               smtp=replace(base.smtp, intake_port=0)))
    await upgrade_async(cfg.database.url)
    await seed(cfg, args.agents, uas_port)
    engine = make_engine(cfg.database.url)
    async with make_sessionmaker(engine)() as s:
        spec = await build_spec(s, cfg)
    await engine.dispose()
    rt_pbx = await asyncio.to_thread(provision)
    await asyncio.to_thread(stop, pbx_cfg.instance, runtime=rt_pbx)  # a leftover of a killed run
    pbx: list[PbxProcess] = []  # the Asterisk of the system being measured
    asterisk_rss = 0.0

    async def fresh_pbx() -> PbxProcess:
        """Each system is measured on an Asterisk started afresh from the same configuration:
        a ramp to saturation leaves Asterisk bloated (after the dialplan's 1280/s step its RSS
        is over 2 GB) and, measured after the others on the same process, ccari carried 130
        and 140/s where on a fresh one it carried 160-170/s."""
        nonlocal asterisk_rss
        if pbx:
            asterisk_rss = max(asterisk_rss, rss_peak_mb(pbx[0].pid))
            await asyncio.to_thread(pbx.pop().stop)
        pbx.append(await asyncio.to_thread(start, spec, runtime=rt_pbx))
        return pbx[0]

    target = f"127.0.0.1:{pbx_cfg.sip_port}"
    print(f"bench: {args.agents} agent phones, hold {args.hold}s, steps of {args.step:g}s, "
          f"max setup {args.max_setup:g}s; a fresh Asterisk for each system; files in {tmp}",
          flush=True)
    results: dict[str, list[Step]] = {}
    overload: Step | None = None
    try:
        async with Sipp("agent_uas.xml", local_ip="127.0.0.1", local_port=uas_port, calls=None,
                        params={"agent": "bench", "answer_after_ms": 0,
                                "hangup_after_ms": args.hold * 1000},
                        extra_args=("-buff_size", str(BUFFER)), timeout_s=3600) as agents:

            async def step(system: str, did: str, rate: int, seconds: float) -> Step:
                proc = pbx[0]
                s = await drive(system, target, did, rate, seconds, hold_s=args.hold,
                                max_setup_s=args.max_setup, asterisk_pid=proc.pid,
                                agents_pid=agents.pid)
                await drain(proc)
                return s

            for system, did in (("dialplan", DIALPLAN_DID), ("queue", QUEUE_DID)):
                if system not in args.only:
                    continue
                await asyncio.to_thread(baselines, await fresh_pbx(), args.hold,
                                        queue=system == "queue")
                results[system] = await ramp(
                    lambda r, system=system, did=did: step(system, did, r, args.step),  # type: ignore[misc]
                    args.start, args.max_rate, args.bisect, args.verbose)

            if "ccari" in args.only:
                await fresh_pbx()  # ccari's own configuration: app_queue is not even loaded
                async with runtime(cfg) as rt:

                    async def ccari_step(rate: int, seconds: float = args.step) -> Step:
                        t0 = time.time()
                        writes = rt.queue.writes
                        jobs, batches = writes.jobs, writes.batches
                        s = await step("ccari", CCARI_DID, rate, seconds)
                        await gate_open(rt)
                        if args.verbose and writes.batches > batches:
                            print(f"           writes: {writes.jobs - jobs} jobs in "
                                  f"{writes.batches - batches} shared commits", flush=True)
                        await judge_contacts(rt, s, t0)
                        return s

                    results["ccari"] = await ramp(ccari_step, args.start, args.max_rate,
                                                  args.bisect, args.verbose)
                    s_rate = sustained(results["ccari"])
                    if s_rate and args.profile_s > 0:
                        prof = cProfile.Profile()
                        prof.enable()
                        try:
                            p_step = await ccari_step(s_rate, args.profile_s)
                        finally:
                            prof.disable()
                        print("profile step, under cProfile: " + p_step.line(args.verbose),
                              flush=True)
                        print(profile_report(prof, tmp / "ccari-profile"), flush=True)
                        print(f"profile written to {tmp / 'ccari-profile.prof'} and .txt", flush=True)
                    if s_rate:
                        # As its admin would: the rate the node was measured to carry, its cap.
                        gate = rt.voice.load.gate
                        gate.limits = replace(gate.limits, max_rate=s_rate)
                        overload = await ccari_step(2 * s_rate)
                        print("overload " + overload.line(True), flush=True)
    finally:
        if pbx:
            asterisk_rss = max(asterisk_rss, rss_peak_mb(pbx[0].pid))
            await asyncio.to_thread(pbx[0].stop)

    report(args, results, overload, asterisk_rss, time.monotonic() - started)


def report(args: argparse.Namespace, results: dict[str, list[Step]], overload: Step | None,
           asterisk_rss: float, elapsed: float) -> None:
    cps = {name: sustained(steps) for name, steps in results.items()}
    for name, steps in results.items():
        at = [s for s in steps if s.rate == cps[name] and s.passed]
        if at and at[-1].cpu:
            print(f"{name:8s} at its sustained {cps[name]}/s: {at[-1].cpu.describe()} "
                  f"(of one core; the box has 2)")
        if not steps or not all(s.passed for s in steps):
            continue  # saturated: a step failed
        last = steps[-1]
        if last.generator_bound:
            print(f"note: {name} passed every rate SIPp could generate on this box "
                  f"(asked {last.rate}/s, offered {last.achieved_rate:.0f}/s): "
                  f"its {cps[name]}/s is a lower bound, not its saturation")
        else:
            print(f"note: {name} passed --max-rate {args.max_rate}/s: "
                  f"its figure is a lower bound, not its saturation")
    passing = [s for s in results.get("queue", []) if s.passed]
    if passing and cps["queue"] * (args.hold + 0.5) > 0.8 * args.agents:
        print(f"note: at {cps['queue']}/s the queue needs most of the {args.agents} agent "
              "phones: raise --agents to see whether app_queue goes further")
    setups = [x for s in results.get("ccari", []) if s.passed for x in s.setups_ms]
    p99 = percentile(setups, 99)
    if overload is not None:
        o = overload
        print(f"overload offered={o.rate}/s served_cps={len(o.served) / o.seconds:.1f} "
              f"refused={o.refused} failed={o.failed - o.refused - o.stuck_in_ivr} "
              f"stuck_in_ivr={o.stuck_in_ivr} calls={o.calls}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"memory: ccari (this process) peak RSS {rss:.0f} MB; Asterisk peak RSS "
          f"{asterisk_rss:.0f} MB")
    print(f"ran {elapsed:.0f}s: {sum(len(v) for v in results.values())} ramp steps")
    c, q, d = cps.get("ccari", 0), cps.get("queue", 0), cps.get("dialplan", 0)
    rq = c / q if q else float("nan")
    rd = c / d if d else float("nan")
    print(f"ccari_cps={c} queue_cps={q} dialplan_cps={d} ratio_queue={rq:.3f} "
          f"ratio_dialplan={rd:.3f} p99_setup_ms={p99:.0f}", flush=True)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.voice", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--full", action="store_true", help="10 s steps (and a 20 s profile)")
    p.add_argument("--start", type=int, default=10, help="first rate, calls/s")
    p.add_argument("--max-rate", type=int, default=2560,
                   help="highest rate offered; a system passing it is reported as such")
    p.add_argument("--bisect", type=int, default=3, help="bisection steps after the doubling")
    p.add_argument("--step", type=float, default=5.0, help="seconds of calls per step")
    p.add_argument("--hold", type=int, default=2, help="seconds the agent keeps the call")
    p.add_argument("--agents", type=int, default=1000, help="agent phones (ccari and queue)")
    p.add_argument("--max-setup", type=float, default=3.0,
                   help="a call whose agent answers later than this (s) counts as failed")
    p.add_argument("--profile", action="store_true", help="a longer profile step (20 s)")
    p.add_argument("--no-profile", action="store_true", help="skip the profile step")
    p.add_argument("--verbose", action="store_true", help="print where failed calls ended")
    p.add_argument("--only", default="dialplan,queue,ccari",
                   help="the systems to run (comma-separated), e.g. ccari while tuning it")
    args = p.parse_args(argv)
    args.only = set(args.only.split(","))
    if args.full:
        args.step = max(args.step, 10.0)
    args.profile_s = 0.0 if args.no_profile else 20.0 if (args.profile or args.full) else args.step
    return args


if __name__ == "__main__":
    asyncio.run(main(parse()))
