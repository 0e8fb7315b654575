"""The lake: the warehouse's events and sessions as Apache Iceberg tables on S3 in the Glue catalog."""
