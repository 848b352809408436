"""The data model is the one source of Iceberg schemas and Athena DDL."""

from __future__ import annotations

from serving_layer import model

# The design page's tables and columns, written out by hand as the independent reference.
DESIGN_COLUMNS = {
    "country": "id name region prefix_phone currency_iso",
    "city": "id name country_id timezone point",
    "client": "id commercial_name business_name city_id address service_ids enterprise_key",
    "service": "id name",
    "product_size": "id name dim_x dim_y dim_z",
    "route": "id code price_official price_original price_incentive distance city_id",
    "trackcode": "id creation crossdocking pickup_address drop_address service_id "
    "product_description product_price product_size_id product_weight pickup_point drop_point "
    "client_id",
    "orders": "id route_id trackcode_id promise_time start_time end_time",
}


def test_the_tables_and_columns_are_those_of_the_design() -> None:
    assert {name: " ".join(t.column_names) for name, t in model.TABLES.items()} == DESIGN_COLUMNS


def test_iceberg_schemas_follow_the_model_with_the_key_as_identifier() -> None:
    for tbl in model.TABLES.values():
        schema = model.iceberg_schema(tbl)

        assert [f.name for f in schema.fields] == list(tbl.column_names)
        assert [schema.find_field(i).name for i in schema.identifier_field_ids] == ["id"]
        assert {f.name for f in schema.fields if f.required} == set(tbl.required)


def test_only_trackcode_is_partitioned_by_day_of_creation() -> None:
    specs = {name: model.iceberg_partition_spec(t) for name, t in model.TABLES.items()}

    trackcode = specs.pop("trackcode")
    assert [(f.name, str(f.transform)) for f in trackcode.fields] == [("creation_day", "day")]
    assert all(spec.is_unpartitioned() for spec in specs.values())


def test_athena_ddl_declares_an_iceberg_table_partitioned_by_day() -> None:
    ddl = model.athena_ddl(model.TABLES["trackcode"], "lake", "s3://bucket/warehouse/")

    assert ddl.startswith("CREATE TABLE IF NOT EXISTS `lake`.`trackcode` (")
    assert "`creation` timestamp" in ddl
    assert "`service_ids`" not in ddl
    assert "PARTITIONED BY (day(`creation`))" in ddl
    assert "LOCATION 's3://bucket/warehouse/trackcode/'" in ddl
    assert "'table_type'='ICEBERG'" in ddl


def test_arrays_are_declared_for_athena_as_arrays_of_int() -> None:
    ddl = model.athena_ddl(model.TABLES["client"], "lake", "s3://bucket")

    assert "`service_ids` array<int>" in ddl
    assert "PARTITIONED BY" not in ddl
