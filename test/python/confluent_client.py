"""Confluent's own Python client (confluent-kafka) against Tributary's registry and broker.

  serialize   <registry> <bootstrap> <topic> <schema.avsc> <record.json>
      registers the schema through AvroSerializer, produces the record keyed by userId with the
      Java-compatible murmur2 partitioner, prints {"id", "partition", "offset", "hex"}.
  encode      <registry> <subject> <schema.avsc> <record-json>
      registers the schema under <subject> through AvroSerializer, prints {"hex"} (no broker).
  deserialize <registry> <hex>
      decodes Confluent wire-format bytes with AvroDeserializer, prints the record as JSON.
  produce     <registry> <bootstrap> <topic> <subject> <records.jsonl>
      produces each record with the latest schema registered under <subject> (a declared event
      type, TopicRecordNameStrategy; nothing registered), decimals given as strings, keyed by
      userId with the Java-compatible murmur2 partitioner; prints {"count", "ids"}.
"""
import decimal
import json
import os
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry import topic_record_subject_name_strategy
from confluent_kafka.serialization import MessageField, SerializationContext


def registry_client(url):
    """REGISTRY_USER_INFO (user:password): HTTP Basic, as Confluent Cloud needs."""
    conf = {"url": url}
    if os.environ.get("REGISTRY_USER_INFO"):
        conf["basic.auth.user.info"] = os.environ["REGISTRY_USER_INFO"]
    return SchemaRegistryClient(conf)


def serialize(registry, bootstrap, topic, schema_file, record_file):
    client = registry_client(registry)
    schema = open(schema_file).read()
    record = json.load(open(record_file))
    serializer = AvroSerializer(client, schema)
    value = serializer(record, SerializationContext(topic, MessageField.VALUE))
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all"})
    delivered = {}

    def on_delivery(err, msg):
        if err is not None:
            raise RuntimeError(str(err))
        delivered.update(partition=msg.partition(), offset=msg.offset())

    producer.produce(topic, key=record["userId"].encode(), value=value, on_delivery=on_delivery)
    producer.flush(30)
    schema_id = int.from_bytes(value[1:5], "big")
    print(json.dumps({"id": schema_id, "hex": value.hex(), **delivered}))


def encode(registry, subject, schema_file, record_json):
    """Registers under `subject` through AvroSerializer and prints {"hex"}: no broker involved."""
    client = registry_client(registry)
    serializer = AvroSerializer(client, open(schema_file).read(), conf={"subject.name.strategy": lambda ctx, name: subject})
    value = serializer(json.loads(record_json), SerializationContext("any", MessageField.VALUE))
    print(json.dumps({"hex": value.hex()}))


def deserialize(registry, hex_value):
    client = registry_client(registry)
    deserializer = AvroDeserializer(client)
    record = deserializer(bytes.fromhex(hex_value), SerializationContext("any", MessageField.VALUE))
    print(json.dumps(record, default=str))


def produce(registry, bootstrap, topic, subject, records_file):
    client = registry_client(registry)
    schema = client.get_latest_version(subject).schema
    parsed = json.loads(schema.schema_str)
    props = next(f for f in parsed["fields"] if f["name"] == "properties")["type"]["fields"]
    decimals = {f["name"] for f in props if isinstance(f["type"], dict) and f["type"].get("logicalType") == "decimal"}
    serializer = AvroSerializer(client, schema.schema_str, conf={
        "auto.register.schemas": False, "subject.name.strategy": topic_record_subject_name_strategy})
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "acks": "all", "enable.idempotence": True})
    ids = set()
    count = 0
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(str(err))

    for line in open(records_file):
        record = json.loads(line)
        for name in decimals & set(record["properties"]):
            record["properties"][name] = decimal.Decimal(record["properties"][name])
        value = serializer(record, SerializationContext(topic, MessageField.VALUE))
        ids.add(int.from_bytes(value[1:5], "big"))
        producer.produce(topic, key=record["userId"].encode(), value=value, on_delivery=on_delivery)
        count += 1
        producer.poll(0)
    if producer.flush(60) != 0 or failed:
        raise RuntimeError(f"not every record was delivered: {failed[:3]}")
    print(json.dumps({"count": count, "ids": sorted(ids)}))


if __name__ == "__main__":
    {"serialize": serialize, "encode": encode, "deserialize": deserialize, "produce": produce}[sys.argv[1]](*sys.argv[2:])
