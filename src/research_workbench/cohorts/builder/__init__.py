"""The Cohort Builder: definitions in the shape of the All of Us Researcher Workbench request, compiled to one
SQL expression over the search index, with counts, participant ids and demographic breakdowns."""
