"""The store's schema, as ordered, named migrations applied when the database opens.

A released migration is never edited: schema changes are new functions appended below.
"""

from __future__ import annotations

from sqlite_utils import Database, Migrations

migrations = Migrations("investigator")


@migrations()
def m001_spans_and_traces(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE spans (
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            parent_id TEXT,
            name TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'unknown',
            start_time TEXT,
            end_time TEXT,
            status TEXT NOT NULL DEFAULT 'unset',
            status_message TEXT,
            input TEXT,
            output TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            model TEXT,
            tool_name TEXT,
            tool_args TEXT,
            tokens_in INTEGER,
            tokens_out INTEGER,
            cost REAL,
            events TEXT NOT NULL DEFAULT '[]',
            agent TEXT,
            source_format TEXT NOT NULL DEFAULT '',
            service TEXT,
            session_id TEXT,
            user_id TEXT,
            hints TEXT NOT NULL DEFAULT '{}',
            agent_inherited INTEGER NOT NULL DEFAULT 0,
            orphan INTEGER NOT NULL DEFAULT 0,
            cycle_broken INTEGER NOT NULL DEFAULT 0,
            digest BLOB
        );
        CREATE UNIQUE INDEX spans_identity ON spans (trace_id, span_id);
        CREATE INDEX spans_parent ON spans (trace_id, parent_id);

        CREATE TABLE traces (
            trace_id TEXT PRIMARY KEY,
            name TEXT,
            root_span_id TEXT,
            start_time TEXT,
            end_time TEXT,
            duration_ms REAL,
            status TEXT NOT NULL DEFAULT 'unset',
            span_count INTEGER NOT NULL DEFAULT 0,
            error_count INTEGER NOT NULL DEFAULT 0,
            service TEXT,
            session_id TEXT,
            user_id TEXT,
            model TEXT,
            agent_version TEXT,
            prompt_version TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            attributes TEXT NOT NULL DEFAULT '{}',
            labels TEXT NOT NULL DEFAULT '{}',
            outcome TEXT NOT NULL DEFAULT '{}',
            source_format TEXT
        );
        CREATE INDEX traces_start ON traces (start_time);

        -- Trace-level records (Agents SDK trace rows, Langfuse traces) kept apart from the rollup,
        -- so a rollup recomputed from spans never loses them.
        CREATE TABLE trace_info (
            trace_id TEXT PRIMARY KEY,
            info TEXT NOT NULL DEFAULT '{}'
        );

        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            file TEXT NOT NULL,
            line INTEGER,
            location TEXT,
            format TEXT,
            reason TEXT NOT NULL,
            raw TEXT NOT NULL,
            raw_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE UNIQUE INDEX quarantine_identity
            ON quarantine (file, coalesce(line, -1), coalesce(location, ''), raw_hash);

        CREATE TABLE labels (
            trace_id TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (trace_id, name)
        );

        CREATE TABLE meta (
            key TEXT PRIMARY KEY,
            value TEXT
        );
        """
    )


@migrations()
def m002_span_text_index(db: Database) -> None:
    # External-content FTS5: the text lives once, in spans; the index is filled after each
    # ingest for the rows it has not seen (see Store.index_text).
    db.executescript(
        """
        CREATE VIRTUAL TABLE spans_fts USING fts5(
            name, input, output, status_message, events,
            content='spans', content_rowid='rowid', tokenize='unicode61'
        );
        INSERT INTO meta (key, value) VALUES ('fts_indexed_rowid', '0');
        """
    )


@migrations()
def m003_rules_layer(db: Database) -> None:
    # Per-trace output of the rules layer (and later of the judge): issues, scores, the compact
    # document, and which detector versions analysed the trace (for incremental `detect`).
    db.executescript(
        """
        CREATE TABLE issues (
            id INTEGER PRIMARY KEY,
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            confidence REAL NOT NULL,
            evidence TEXT NOT NULL,
            description TEXT NOT NULL,
            source TEXT NOT NULL
        );
        CREATE INDEX issues_trace ON issues (trace_id);
        CREATE INDEX issues_category ON issues (category);

        CREATE TABLE trace_scores (
            trace_id TEXT NOT NULL,
            source TEXT NOT NULL,
            factual_grounding INTEGER NOT NULL,
            privacy_and_safety INTEGER NOT NULL,
            instruction_adherence INTEGER NOT NULL,
            optimal_plan_execution INTEGER NOT NULL,
            reasons TEXT NOT NULL,
            PRIMARY KEY (trace_id, source)
        );

        CREATE TABLE documents (
            trace_id TEXT PRIMARY KEY,
            text TEXT NOT NULL
        );

        CREATE TABLE analysis (
            trace_id TEXT PRIMARY KEY,
            rules_version TEXT NOT NULL,
            analysed_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m004_runs_and_clusters(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE runs (
            id TEXT PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running',
            window_start TEXT,
            window_end TEXT,
            settings TEXT NOT NULL DEFAULT '{}',
            counts TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE clusters (
            run_id TEXT NOT NULL REFERENCES runs(id),
            cluster_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, cluster_id)
        );
        """
    )


@migrations()
def m005_judge(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE findings (
            id TEXT NOT NULL,
            run_id TEXT NOT NULL,
            cluster_id TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            data TEXT NOT NULL,
            PRIMARY KEY (run_id, id)
        );
        CREATE INDEX findings_id ON findings (id);

        -- Every model call: what it cost and how long it took.
        CREATE TABLE llm_calls (
            id INTEGER PRIMARY KEY,
            run_id TEXT,
            cluster_id TEXT,
            purpose TEXT NOT NULL,
            model TEXT NOT NULL,
            tokens_in INTEGER NOT NULL DEFAULT 0,
            tokens_out INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            latency_ms REAL NOT NULL DEFAULT 0,
            error TEXT,
            created_at TEXT NOT NULL
        );

        -- Summaries of long spans, per summarizing model.
        CREATE TABLE span_summaries (
            trace_id TEXT NOT NULL,
            span_id TEXT NOT NULL,
            field TEXT NOT NULL,
            model TEXT NOT NULL,
            summary TEXT NOT NULL,
            PRIMARY KEY (trace_id, span_id, field, model)
        );
        """
    )


@migrations()
def m006_history(db: Database) -> None:
    db.executescript(
        """
        -- What people decided about a finding; the latest verdict counts.
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            finding_id TEXT NOT NULL,
            verdict TEXT NOT NULL,
            of_id TEXT,
            note TEXT,
            reviewed_at TEXT NOT NULL
        );
        CREATE INDEX reviews_finding ON reviews (finding_id);

        CREATE TABLE schedules (
            name TEXT PRIMARY KEY,
            every TEXT NOT NULL,
            source TEXT NOT NULL,
            options TEXT NOT NULL DEFAULT '{}',
            watermark TEXT,
            created_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m007_span_timings_index(db: Database) -> None:
    # Covers Store.span_timings, so population statistics are read without touching span text.
    db.execute(
        "CREATE INDEX IF NOT EXISTS spans_timing"
        " ON spans (kind, name, tool_name, model, start_time, end_time, tokens_in, tokens_out)"
    )


@migrations()
def m008_issue_surfaced_and_timing_peers(db: Database) -> None:
    # An issue's second location: where a failure the model authored surfaced. Population
    # statistics group model calls by agent too, and leave failed spans out of the baselines.
    db.executescript(
        """
        ALTER TABLE issues ADD COLUMN surfaced_span_id TEXT;
        DROP INDEX IF EXISTS spans_timing;
        CREATE INDEX spans_timing
            ON spans (kind, name, tool_name, model, agent, status, start_time, end_time, tokens_in, tokens_out);
        """
    )


@migrations()
def m009_source_windows(db: Database) -> None:
    # What a query source counted in a window, where only part of the window's traces is stored
    # (its suspects and a sample): the window's real size, which prevalence is measured on.
    db.execute(
        """
        CREATE TABLE IF NOT EXISTS source_windows (
            source TEXT NOT NULL,
            since TEXT NOT NULL,
            until TEXT NOT NULL,
            traces INTEGER NOT NULL,
            spans INTEGER NOT NULL,
            PRIMARY KEY (source, since, until)
        )
        """
    )
