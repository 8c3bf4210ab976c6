"""Nachrichten-QA: answers questions about a news archive with quoted, cited sentences.

The data flows one way: corpus -> chunking -> embedding -> index -> retrieval -> answer -> ui;
`qa.service.QAService` ties the steps together and `qa.cli` is the command line.
"""
