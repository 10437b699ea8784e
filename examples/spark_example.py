"""Run Rulecite inside an existing Spark job (documentation example; Rulecite does not
depend on Spark, and nothing here is imported by Rulecite or its tests).

The evaluation function is pure: records in, results out, no I/O, no clock. Spark only
has to (1) keep each patient's months in one partition, in period order, so history is
right, and (2) load the pack once per partition (or per executor). Both recipes below
give the same JSON as `rulecite eval` for each record; `input_line` counts within a
partition, so keep your own row key if you need to join results back.

    spark-submit examples/spark_example.py PACK facts.jsonl out/

Each executor needs `pip install rulecite` and the pack folder at the same path (or a
bundled pack name such as cms-care-management).
"""

import json
import sys


def evaluate_partition(pack_ref, rows):
    """mapPartitions body: JSON Lines text in, result JSON text out, in partition order."""
    from rulecite.interpreter import evaluate, load_pack

    pack = load_pack(pack_ref)  # once per partition; cache it in a module global to reuse per executor
    for result in evaluate(pack, (row.value for row in rows)):
        yield result.to_json()


def with_map_partitions(spark, pack_ref, facts_path, out_path):
    from pyspark.sql import functions as F

    df = spark.read.text(facts_path)  # one column, `value`: the JSON line
    keyed = df.withColumn("pid", F.get_json_object("value", "$.patient_id")) \
              .withColumn("month", F.get_json_object("value", "$.month"))
    # All months of a patient in one partition, oldest first: history sees them all.
    grouped = keyed.repartition("pid").sortWithinPartitions("pid", "month").select("value")
    results = grouped.rdd.mapPartitions(lambda rows: evaluate_partition(pack_ref, rows))
    results.saveAsTextFile(out_path)


def with_map_in_pandas(spark, pack_ref, facts_path, out_path):
    """The same with mapInPandas (Arrow batches); each batch is a slice of one partition,
    so sort within partitions first and keep a patient's months in one batch (or use
    groupBy("pid").applyInPandas for whole groups)."""
    import pandas as pd
    from pyspark.sql import functions as F

    def run(batches):
        from rulecite.interpreter import evaluate, load_pack

        pack = load_pack(pack_ref)
        for batch in batches:
            out = [r.to_json() for r in evaluate(pack, batch["value"].tolist())]
            yield pd.DataFrame({"result": out})

    df = spark.read.text(facts_path).withColumn("pid", F.get_json_object("value", "$.patient_id"))
    grouped = df.repartition("pid").sortWithinPartitions("pid").select("value")
    grouped.mapInPandas(run, schema="result string").write.text(out_path)


def main(argv):
    from pyspark.sql import SparkSession

    pack_ref, facts_path, out_path = argv[1:4]
    spark = SparkSession.builder.appName("rulecite").getOrCreate()
    with_map_partitions(spark, pack_ref, facts_path, out_path)
    print(json.dumps({"written": out_path}))


if __name__ == "__main__":
    main(sys.argv)
