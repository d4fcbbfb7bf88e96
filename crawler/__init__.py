"""The Scrapy project of newswatch: spider, items, pipelines, extraction and site profiles."""
