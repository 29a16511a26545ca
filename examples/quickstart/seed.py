#!/usr/bin/env python3
"""Creates the quickstart warehouse (examples/quickstart/warehouse.db) from scratch.

Deterministic: the same rows every time, including one deliberately bad row (a
malformed e-mail) so the demo shows how backflow reports refused rows.
"""
import os
import random
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    rng = random.Random(42)
    db = sqlite3.connect(path)
    db.executescript(
        """
        create table companies (company_id text primary key, name text, plan text,
            employees integer, mrr real, created_at text, industry text);
        create table app_users (id integer primary key, email text, full_name text,
            signed_up_at text, trial_ends_at text, became_active_at text, company_id text);
        create table payments (user_id integer, amount real, paid_at text);
        create table sessions (user_id integer, started_at text);
        create table trial_leads (email text, full_name text, signed_up_at integer);
        create table signups (event_id text, user_id text, occurred_at text, plan text, source text);
        """
    )
    industries = ["Software", "Retail", "Health", "Finance", "Education"]
    plans = ["starter", "growth", "enterprise"]
    companies = []
    for i in range(1, 6):
        companies.append((f"acme-{i}", f"Acme {i} Ltd", plans[i % 3], 10 * i, 99.5 * i,
                          f"2025-0{i}-15", industries[i - 1]))
    db.executemany("insert into companies values (?,?,?,?,?,?,?)", companies)
    names = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Linus Torvalds",
             "Margaret Hamilton", "Dennis Ritchie", "Barbara Liskov", "Ken Thompson", "Frances Allen",
             "Édith Piaf", "Søren Kierkegaard", "Zoë Saldaña", "José Martí", "Björk Guðmundsdóttir",
             "Łukasz Kowalski", "Nguyễn Văn An", "山田 太郎", "Renée Descartes", "Chloë Sevigny"]
    users = []
    for i, name in enumerate(names, start=1):
        email = name.split()[0].lower().replace("é", "e").replace("ø", "o").replace("ë", "e") + f"{i}@example.com"
        if i == 7:
            email = "dennis.at.example.com"  # malformed on purpose: reported as invalid
        users.append((i, email, name, f"2026-0{1 + i % 9}-0{1 + i % 9}T09:30:00Z",
                      f"2026-12-{10 + i % 18:02d}", f"2026-{1 + i % 11:02d}-20 08:00:00",
                      f"acme-{1 + i % 5}"))
    db.executemany("insert into app_users values (?,?,?,?,?,?,?)", users)
    for u in range(1, len(names) + 1):
        for _ in range(rng.randint(0, 4)):
            db.execute("insert into payments values (?,?,?)", (u, round(rng.uniform(9, 199), 2), "2026-10-01"))
        for _ in range(rng.randint(0, 12)):
            db.execute("insert into sessions values (?,?)", (u, f"2026-11-{rng.randint(1, 28):02d}"))
    db.executemany("insert into trial_leads values (?,?,?)", [
        ("visitor1@example.org", "Curious Visitor", 1764403200),
        ("visitor2@example.org", "Another Visitor", 1764489600000),  # epoch milliseconds
        ("visitor3@example.org", None, None),
    ])
    db.executemany("insert into signups values (?,?,?,?,?)", [
        (f"evt-{i}", str(i), f"2026-11-{i:02d}T12:00:00+01:00", plans[i % 3], "website")
        for i in range(1, 11)
    ])
    db.commit()
    db.close()
    print(f"seeded {path}: {len(companies)} companies, {len(users)} users, 3 leads, 10 signup events")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "warehouse.db"))
