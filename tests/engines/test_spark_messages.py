"""What a failed Spark call says: the Java exception's first line, not Py4J's name of the call."""

from __future__ import annotations

from research_workbench.engines.spark_engine import spark_message


class _Java:
    def __init__(self, text: str):
        self.text = text

    def toString(self) -> str:  # noqa: N802 - the Java method's name
        if self.text is None:
            raise ConnectionError("the gateway is gone")
        return self.text


class _Py4JError(Exception):
    def __init__(self, java: _Java):
        super().__init__("An error occurred while calling o9702.parquet.\n: org.apache.spark.SparkException: …")
        self.java_exception = java


def test_a_jvm_failure_is_named_by_the_java_exceptions_first_line():
    err = _Py4JError(_Java("org.apache.spark.SparkException: Not enough memory to build and broadcast the table\n\tat x"))
    assert spark_message(err) == "org.apache.spark.SparkException: Not enough memory to build and broadcast the table"


def test_without_a_java_exception_or_its_gateway_the_python_text_is_used():
    assert spark_message(ValueError("[PARQUET_TYPE_ILLEGAL] Illegal Parquet type\nmore")) == "[PARQUET_TYPE_ILLEGAL] Illegal Parquet type"
    assert spark_message(_Py4JError(_Java(None))) == "An error occurred while calling o9702.parquet."
    assert spark_message(RuntimeError()) == "RuntimeError"
