#!/usr/bin/env python3
"""Builds the demo catalog (Beta 500's import format, JSON) from vega-datasets' movies.json:
3,201 films with title, release date, genre, director, ratings and votes (BSD-3-Clause).

Usage: demo_catalog.py MOVIES_JSON OUT_JSON

The data set has no cast, languages or descriptions: cast and languages stay empty, and the
description is composed from the fields it does have. Its release dates print two-digit years
with the wrong century for some old films (Fantasia, 1940, appears as 2040): a year after the
data set's last (2011) is moved back a century."""

import json
import os
import sys

LAST_YEAR = 2011


def year_of(release_date):
    year = int(release_date[-4:])
    return year - 100 if year > LAST_YEAR else year


def description(movie, year):
    kind = " ".join(part for part in [movie.get("Creative Type"), movie.get("Major Genre")] if part)
    text = f"{kind or 'Film'} from {year}"
    if movie.get("Director"):
        text += f", directed by {movie['Director']}"
    if movie.get("Source") and movie["Source"] != "Original Screenplay":
        text += f"; {movie['Source'][0].lower()}{movie['Source'][1:]}"
    if movie.get("Distributor"):
        text += f"; released by {movie['Distributor']}"
    return text + "."


def convert(movies):
    titles = []
    for index, movie in enumerate(movies):
        if movie.get("Title") is None:
            continue
        year = year_of(movie["Release Date"])
        titles.append({
            "source_id": f"vega-movies:{index}",
            "title": str(movie["Title"]),
            "year": year,
            "genres": [movie["Major Genre"]] if movie.get("Major Genre") else [],
            "directors": [movie["Director"]] if movie.get("Director") else [],
            "cast": [],
            "languages": [],
            "description": description(movie, year),
            "rating": movie.get("IMDB Rating"),
            "votes": movie.get("IMDB Votes") or 0,
            "runtime_minutes": movie.get("Running Time min"),
            "source": movie.get("Source") or "",
            "creative_type": movie.get("Creative Type") or "",
        })
    return titles


def main():
    source, target = sys.argv[1:3]
    with open(source) as movies:
        titles = convert(json.load(movies))
    with open(target + ".tmp", "w") as out:
        json.dump(titles, out, indent=0)
    os.replace(target + ".tmp", target)
    print(f"demo catalog: {len(titles)} titles in {target}")


if __name__ == "__main__":
    main()
