"""The Genomics pages: a writer starts an analysis from a form (problems shown beside their fields), follows it on
its page (refreshed while it runs), cancels it; a finished job shows its results — a GWAS its Manhattan and QQ
plots (served as images by a guarded route), λGC and top hits; a PCA its plots; a PheWAS and allele frequencies
their tables (exact counts for members, "<20" in the publishable view); an extract its files with download links.
A Registered Tier workspace says why it has no genomics; non-members get 404s, readers no forms."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pyarrow.parquet as pq
from sqlalchemy import select

from research_workbench.state.models import AuditEvent, GenomicsJob

from .conftest import post
from .test_genomics_jobs import genomes, gws, held, wait  # noqa: F401

PAGE = "/workspaces/ct-study/genomics"


def text(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def job_page(job_id: int) -> str:
    return f"{PAGE}/jobs/{job_id}"


def start(client, kind: str, fields: dict) -> object:
    return post(client, f"{PAGE}/jobs", {"kind": kind, **{f"{kind}.{k}": v for k, v in fields.items()}},
                form_page=PAGE)


def test_a_writer_sees_every_analysis_with_the_workspaces_cohorts_and_a_reader_only_the_jobs(gws):
    page = gws.personas["owner@citylab.org"].sign_in().get(PAGE)
    assert page.status_code == 200
    for kind in ("extract", "gwas", "pca", "phewas", "frequencies"):
        assert f'id="{kind}-form"' in page.text
    assert re.search(r'<option value="\d+">Women</option>', page.text) and 'aria-current="page">Genomics' in page.text
    assert "Whole genome sequencing: 10,000 variants" in text(page.text)
    reader = gws.personas["reader@citylab.org"].sign_in().get(PAGE)
    assert reader.status_code == 200 and 'id="extract-form"' not in reader.text and 'id="jobs"' in reader.text


def test_a_registered_tier_workspace_says_why_it_has_no_genomics(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    page = client.get("/workspaces/rt-study/genomics")
    assert page.status_code == 200 and 'id="extract-form"' not in page.text
    assert "Genomic data is in the Controlled Tier only, and this is a Registered Tier workspace" in text(
        re.search(r'id="genomics-unavailable".*?</div>', page.text, re.S).group(0))
    r = post(client, "/workspaces/rt-study/genomics/jobs", {"kind": "frequencies"},
             form_page="/workspaces/rt-study/genomics")
    assert r.status_code == 303 and "Controlled Tier only" in text(client.get(r.headers["location"]).text)
    with gws.wb.db.session() as session:
        assert session.scalars(select(GenomicsJob)).all() == []


def test_non_members_get_404s_and_readers_cannot_start_or_cancel(gws, held):
    owner = gws.personas["owner@citylab.org"].sign_in()
    job_id = int(start(owner, "frequencies", {}).headers["location"].rsplit("/", 1)[1])
    outsider = gws.personas["outsider@citylab.org"].sign_in()
    for path in (PAGE, job_page(job_id), f"{job_page(job_id)}/files/summary.json"):
        assert outsider.get(path).status_code == 404
    token = outsider.cookies.get("csrftoken")
    assert outsider.post(f"{PAGE}/jobs", data={"csrftoken": token, "kind": "frequencies"}).status_code == 404
    assert outsider.post(f"{job_page(job_id)}/cancel", data={"csrftoken": token}).status_code == 404
    reader = gws.personas["reader@citylab.org"].sign_in()
    token = reader.cookies.get("csrftoken") or (reader.get(PAGE) and reader.cookies.get("csrftoken"))
    assert reader.post(f"{PAGE}/jobs", data={"csrftoken": token, "kind": "frequencies"}).status_code == 403
    assert reader.post(f"{job_page(job_id)}/cancel", data={"csrftoken": token}).status_code == 403
    assert "Cancel this job" not in reader.get(job_page(job_id)).text


def test_form_problems_are_shown_beside_their_fields_with_what_was_typed(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    r = start(client, "extract", {"selection.genes": "TCF7L2", "selection.min_af": "lots", "formats.sent": "1"})
    assert r.status_code == 422
    assert re.search(r'<details[^>]*id="start-extract" open', r.text)
    errors = {m.group(1): text(m.group(2)) for m in re.finditer(r'id="([\w-]+)-error">(.*?)</p>', r.text)}
    assert errors == {"extract-cohort": "required: choose one of the workspace's saved cohorts",
                      "extract-selection-min_af": "Input should be a valid number, unable to parse string as a number",
                      "extract-formats": "List should have at least 1 item after validation, not 0"}
    assert 'value="lots"' in r.text and 'value="TCF7L2"' in r.text


def test_an_extract_started_from_the_form_lists_its_files_with_download_links(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    r = start(client, "extract", {"cohort": str(gws.cohorts["Men"]), "selection.genes": "TCF7L2", "formats": "vcf",
                                  "formats.sent": "1"})
    assert r.status_code == 303 and re.fullmatch(rf"{PAGE}/jobs/\d+", r.headers["location"])
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert f"Genotype extract job {job_id} started" in text(client.get(r.headers["location"]).text)
    done = wait(gws.api(), job_id)
    assert done["status"] == "done", done
    page = client.get(job_page(job_id))
    assert 'hx-trigger="every 2s"' not in page.text  # finished: no more refreshing
    links = re.findall(r'<a href="([^"]+)" download>([^<]+)</a>', page.text)
    assert [name for _, name in links] == ["extract.vcf.gz", "extract.vcf.gz.tbi", "manifest.json"]
    size = (Path(done["path"]) / "extract.vcf.gz").stat().st_size
    assert f"{job_page(job_id)}/files/extract.vcf.gz" == links[0][0]
    got = client.get(links[0][0])
    assert got.status_code == 200 and len(got.content) == size
    assert got.headers["content-disposition"] == 'attachment; filename="extract.vcf.gz"'
    with gws.wb.db.session() as session:
        purposes = [e.details["purpose"] for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "participant_access").order_by(AuditEvent.seq))]
    assert purposes == ["genomics_extract", "genomics_download"]


def test_a_job_is_followed_while_it_runs_and_cancelled_from_its_page(gws, held):
    client = gws.personas["owner@citylab.org"].sign_in()
    r = start(client, "frequencies", {"cohort": "", "selection.rsids": "rs7903146"})
    job_id = int(r.headers["location"].rsplit("/", 1)[1])
    page = client.get(job_page(job_id))
    assert f'hx-get="{job_page(job_id)}?fragment=true"' in page.text and "Cancel this job" in page.text
    assert "everyone genotyped; rs7903146" in text(page.text)
    listing = client.get(PAGE)
    assert 'hx-trigger="every 2s"' in listing.text and f"Cancel job {job_id}" in listing.text
    r = post(client, f"{job_page(job_id)}/cancel", {}, form_page=job_page(job_id))
    assert r.status_code == 303 and r.headers["location"] == job_page(job_id)
    held.run(job_id)
    page = text(client.get(job_page(job_id)).text)
    assert "Status cancelled" in page and "cancelled: nothing was written" in page


def test_a_gwas_page_shows_its_plots_lambda_gc_and_top_hits(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    job_id = int(start(client, "gwas", {"cases": str(gws.cohorts["Women"]), "controls": str(gws.cohorts["Men"]),
                                        "covariates": "age", "covariates.sent": "1",
                                        "selection.regions": "chr10"}).headers["location"].rsplit("/", 1)[1])
    done = wait(gws.api(), job_id)
    assert done["status"] == "done", done
    page = client.get(job_page(job_id)).text
    for name in ("manhattan", "qq"):
        assert f'<img src="{job_page(job_id)}/files/{name}.png"' in page
        assert f'href="{job_page(job_id)}/files/{name}.svg"' in page
    summary = done["summary"]
    assert text(re.search(r'id="lambda-gc">(.*?)</dd>', page).group(1)) == "%.4g" % summary["lambda_gc"]
    hits = re.search(r'id="top-hits".*?</table>', page, re.S).group(0)
    assert len(re.findall(r'<tr><th scope="row">', hits)) == len(summary["top_hits"]) > 0
    png = client.get(f"{job_page(job_id)}/files/manhattan.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    assert png.headers["content-disposition"].startswith("inline")
    svg = client.get(f"{job_page(job_id)}/files/qq.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    assert svg.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert client.get(f"{job_page(job_id)}/files/.participants.parquet").status_code == 404


def test_frequencies_show_exact_counts_to_members_and_the_publishable_view_hides_1_to_19(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    job_id = int(start(client, "frequencies", {"cohort": str(gws.cohorts["Men"]),
                                               "selection.rsids": "rs7903146 rs429358"}).headers["location"]
                 .rsplit("/", 1)[1])
    done = wait(gws.api(), job_id)
    table = pq.read_table(Path(done["path"]) / "frequencies.parquet").to_pylist()
    small = sum(1 for row in table for n in (row["allele_count"], row["allele_number"]) if 0 < n < 20)
    assert small > 0  # the seven groups of a few hundred men: some counts are small
    exact = client.get(job_page(job_id)).text
    cells = re.search(r'id="frequencies".*?</table>', exact, re.S).group(0)
    assert "&lt;20" not in cells
    for row in table:
        assert f"{row['allele_count']:,} / {row['allele_number']:,}" in cells
    shown = re.search(r'id="frequencies".*?</table>', client.get(job_page(job_id) + "?publishable=true").text,
                      re.S).group(0)
    assert shown.count("&lt;20") == small


def test_a_pca_page_shows_its_plots_and_a_phewas_page_its_table(gws):
    client = gws.personas["owner@citylab.org"].sign_in()
    pca = int(start(client, "pca", {"k": "4", "selection.regions": "chr1"}).headers["location"].rsplit("/", 1)[1])
    phewas = int(start(client, "phewas", {"variant": "rs7903146", "min_cases": "50"}).headers["location"]
                 .rsplit("/", 1)[1])
    assert wait(gws.api(), pca)["status"] == "done"
    page = client.get(job_page(pca)).text
    assert f'<img src="{job_page(pca)}/files/pca_pc1_pc2.png"' in page and "pca_pc3_pc4.png" in page
    done = wait(gws.api(), phewas)
    assert done["status"] == "done", done
    page = client.get(job_page(phewas)).text
    rows = pq.read_table(Path(done["path"]) / "phewas.parquet").num_rows
    table = re.search(r'id="phewas".*?</table>', page, re.S).group(0)
    assert table.count("<tr>") == min(rows, 200) + 1 and "concept_name" in table
