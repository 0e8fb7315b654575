"""The load of one run's batches: parse, plan and load overlapping, one transaction per batch.

Three stages run at once: fetch + parse (eight fetch threads and one parser thread, which hands each object to the
parse worker process when there is one; two batches ahead), planning the sessionization (one planner thread, one batch
ahead, from the client states ``StateCache`` predicts) and the database work of the current batch (the calling
thread). ``Pipeline`` owns the thread pools, the parse worker and the process-wide settings it changes for the load
(the cyclic GC's thresholds, the thread switch interval), and puts them all back when it ends.
"""

from __future__ import annotations

import gc
import json
import logging
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

from . import aggregates, load, quarantine
from .config import Settings
from .load import BatchResult, freshness, load_batch, source_uri
from .parse import GC_THRESHOLDS, ParsedObject
from .parse_worker import Parser, usable_cpus
from .plan import DirectPlan, Recorded, StateCache, plan_direct
from .rules import Freshness
from .source import RawObject, fetch

LOG = logging.getLogger("clickstream_etl")
# sys.setswitchinterval while batches load: each database round trip of the calling thread ends with a wait for
# the GIL, which the parser and planner threads hold; by default a waiting thread gets it only after a switch
# interval of 5 ms, and a batch makes dozens of round trips.
SWITCH_INTERVAL = 0.0005
AHEAD_DURING_APPLY = 4  # batches fetched and parsed ahead while an aggregates' apply holds the calling thread
FETCH_THREADS = 8


def use_parse_worker(settings: Settings) -> bool:
    """Whether the run parses in a worker process (``Settings.parse_worker``)."""
    return settings.parse_worker == "on" or (settings.parse_worker == "auto" and usable_cpus() > 1)


@dataclass
class Batch:
    """One batch on its way: its objects, their bytes and parses, and its Python-path plan (being made)."""

    objects: list[RawObject]
    data: list[bytes]
    splits: list[ParsedObject]
    plan: Future | None = None


def _parse_fetched(parse: Parser, fetched: Future, bucket: str, obj: RawObject, file_idx: int,
                   window: Freshness) -> tuple[bytes, ParsedObject]:
    data = fetched.result()  # an S3 error here stops the run (transient: the object stays pending)
    try:
        return data, parse.split(data, file_idx, source_uri(bucket, obj.key), obj.last_modified, window)
    except Exception as exc:  # the Python parse failed on this input: the general decoder types each line on its own
        LOG.warning(json.dumps({"message": "fast parse failed, object goes to the general decoder", "key": obj.key,
                                "error": f"{quarantine.error_class(exc)}: {quarantine.error_message(exc)}"}))
        return data, load.all_slow(data, file_idx)


def _plan(splits: list[ParsedObject], states, timeout, unknown: set[str]) -> DirectPlan:
    return plan_direct([r for sp in splits for r in sp.rows], states, timeout, unknown)


class Pipeline:
    """Load ``groups`` (the run's batches, in order) on ``conn``: use as a context manager, then ``run``."""

    def __init__(self, conn, s3, settings: Settings, groups: list[list[RawObject]], run_id: int) -> None:
        self.conn, self.s3, self.settings, self.groups, self.run_id = conn, s3, settings, groups, run_id
        self._window = freshness(settings)
        self._timeout = load.sql_params(settings)["timeout"]
        self._cache = StateCache()
        self._recorded = Recorded()
        self._fetching: dict[int, list[Future]] = {}
        self._scheduled = 0  # batches handed to the fetch pool and the parser so far
        self._current: Batch | None = None
        self._stack = ExitStack()

    # --- what the pipeline owns -----------------------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        # Parsing allocates millions of small objects that live until their batch commits: with the default
        # thresholds the cyclic GC keeps re-scanning them. Nothing here makes cycles.
        thresholds, switch = gc.get_threshold(), sys.getswitchinterval()
        self._stack.callback(sys.setswitchinterval, switch)
        self._stack.callback(gc.set_threshold, *thresholds)
        gc.set_threshold(*GC_THRESHOLDS)
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            # closed in reverse: the thread pools (the parser thread's last parse waited for), then the worker
            self._parse = self._stack.enter_context(Parser(use_parse_worker(self.settings) and bool(self.groups)))
            self._fetchers = self._stack.enter_context(ThreadPoolExecutor(max_workers=FETCH_THREADS))
            self._parser = self._stack.enter_context(ThreadPoolExecutor(max_workers=1))
            self._planner = self._stack.enter_context(ThreadPoolExecutor(max_workers=1))
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            for futures in self._fetching.values():
                for f in futures:
                    f.cancel()
            # fetches not started yet: a parse still waiting on one gets CancelledError, which nothing reads
            self._fetchers.shutdown(wait=False, cancel_futures=True)
            if self._current is not None and self._current.plan is not None:
                self._current.plan.cancel()
        finally:
            self._stack.close()

    # --- the stages -----------------------------------------------------------------------------------------------

    def _schedule(self, upto: int) -> None:
        """Fetch and parse the batches before ``upto``: each object fetched in the pool, then parsed by the one
        parser thread (one parser, not one per fetch thread: Python threads that all want the GIL slow each other
        down)."""
        bucket = self.settings.raw_bucket
        for m in range(self._scheduled, min(upto, len(self.groups))):
            self._fetching[m] = [
                self._parser.submit(_parse_fetched, self._parse, self._fetchers.submit(fetch, self.s3, bucket, o.key),
                                    bucket, o, i, self._window)
                for i, o in enumerate(self.groups[m])]
        self._scheduled = max(self._scheduled, min(upto, len(self.groups)))

    def _collect(self, n: int) -> Batch:
        fetched = [f.result() for f in self._fetching.pop(n)]
        return Batch(self.groups[n], [d for d, _ in fetched], [sp for _, sp in fetched])

    def _plan_inputs(self, batch: Batch):
        """The states the batch's plan needs (read on the run's connection, before the writes of the batch being
        loaded), and the clients whose state is not known yet."""
        with self.conn.cursor() as cur:
            return self._cache.resolve(cur, set().union(*(sp.clients for sp in batch.splits)))

    def _plan_ahead(self, batch: Batch) -> None:
        """Plan the batch in the planner thread, which overlaps the database work of the batch before it."""
        states, unknown = self._plan_inputs(batch)
        batch.plan = self._planner.submit(_plan, batch.splits, states, self._timeout, unknown)

    def _plan_of(self, n: int, batch: Batch, replan: bool) -> DirectPlan | None:
        """The batch's plan: as made ahead, or made again (``replan``) when the batch before did not apply its own
        plan (then the states predicted from it are wrong)."""
        if batch.plan is None:
            return None
        plan = batch.plan.result()
        if replan:
            self._cache.reset()
            states, unknown = self._plan_inputs(batch)
            plan = _plan(batch.splits, states, self._timeout, unknown)
        self._cache.record(n, plan)
        return plan

    def _load(self, batch: Batch, plan: DirectPlan | None,
              failed: Callable[[Batch, Exception], BatchResult]) -> BatchResult:
        try:
            return load_batch(self.conn, self.settings.raw_bucket, list(zip(batch.objects, batch.data, strict=True)),
                              self.settings, self.run_id, batch.splits, plan, recorded=self._recorded)
        except Exception as exc:
            if quarantine.is_transient(exc):
                raise
            return failed(batch, exc)  # fault isolation; its result has fast_fallback: the plan was not applied

    # --- the run --------------------------------------------------------------------------------------------------

    def run(self, deadline, loaded: Callable[[BatchResult], None],
            failed: Callable[[Batch, Exception], BatchResult]) -> str | None:
        """Load the batches in order, one transaction each; ``loaded`` is told of each batch's result, ``failed``
        loads a batch that failed with an error that is not transient (a transient one is raised). Applies the
        aggregates' pending change every ``aggregate_every_events`` events. Returns why it stopped early, if it did
        (``deadline``: less than ``min_remaining_seconds`` left)."""
        settings = self.settings
        if not self.groups:
            return None
        self._schedule(2)
        current = self._current = self._collect(0)
        if load.DIRECT:
            self._plan_ahead(current)
        replan = False
        since_applied = 0  # events loaded since the aggregates' pending change was last applied
        for n in range(len(self.groups)):
            left = deadline.left_ms()
            if left is not None and left < settings.min_remaining_seconds * 1000:
                return "stopped early: Lambda time budget nearly spent"
            plan = self._plan_of(n, current, replan)
            following = None
            if n + 1 < len(self.groups):
                following = self._collect(n + 1)
                self._schedule(n + 3)
                if plan is not None:
                    self._plan_ahead(following)
            b = self._load(current, plan, failed)
            self._cache.committed = n
            replan = plan is not None and b.fast_fallback  # the plan was not applied
            loaded(b)
            since_applied += b.events_loaded
            if (settings.aggregate_every_events and since_applied >= settings.aggregate_every_events
                    and deadline.allows(settings.min_apply_seconds)):
                self._schedule(n + 3 + AHEAD_DURING_APPLY)  # the parser works further ahead meanwhile
                aggregates.apply_pending(self.conn)
                self._recorded.clear()
                since_applied = 0
            current = self._current = following
        return None
