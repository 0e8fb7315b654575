"""The harness the tests and the benchmarks share: real services on 127.0.0.1 (a moto server, a throwaway
PostgreSQL 15, the local platform), free ports, process helpers, ansible-playbook/ansible-doc runners and the
contract-fuzzing bookkeeping. It lives outside tests/ and bench/ so that neither imports the other for it;
import it as ``scripts.harness.<module>`` with the repository root on sys.path (pytest.ini puts it there)."""
